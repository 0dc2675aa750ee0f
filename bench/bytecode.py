"""Will the runtime use the bytecode in a build as it is? Run by the runtime's interpreter:

    python3.13 bench/bytecode.py DIRECTORY...

Every ``.py`` file must have its ``.pyc`` beside it (``__pycache__``, this interpreter's tag)
with this interpreter's magic number, unchecked-hash flags (PEP 552: the loader never compares
it with its source, so lost mtimes cannot make it stale) and the hash of the source it ships
with. Standard library only: the bench runs it under the runtime's Python, not the venv's.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source off


def verdict(source: Path) -> str:
    """``ok``, or what makes the runtime compile this module again."""
    try:
        header = Path(importlib.util.cache_from_source(str(source))).read_bytes()[:16]
    except OSError:
        return "no .pyc"
    if header[:4] != importlib.util.MAGIC_NUMBER:
        return "another Python's magic number"
    if int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
        return "not unchecked-hash"
    if header[8:16] != importlib.util.source_hash(source.read_bytes()):
        return "compiled from another source"
    return "ok"


def verdicts(*roots: Path) -> Counter[str]:
    return Counter(verdict(source) for root in roots for source in sorted(root.rglob("*.py")))


def describe(found: Counter[str]) -> str:
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    line = f"{found['ok']} of {sum(found.values())} modules have bytecode {python} uses as it is"
    line += f" (magic {importlib.util.MAGIC_NUMBER.hex()}, unchecked-hash, from these sources)"
    problems = [f"{count} {problem}" for problem, count in sorted(found.items()) if problem != "ok"]
    return line + (f"; {', '.join(problems)}" if problems else "")


if __name__ == "__main__":
    found = verdicts(*(Path(arg) for arg in sys.argv[1:]))
    print(describe(found))
    sys.exit(0 if found and set(found) == {"ok"} else 1)
