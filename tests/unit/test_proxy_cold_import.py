"""What the proxy's cold start imports: known costs kept out of it (figures: bench/cold_start)."""

from __future__ import annotations

import json
import subprocess
import sys

from devstack.template import ROOT

# A dataclass without a docstring gets one made at class creation from inspect.signature: about
# 0.4 ms per class under python3.13 on the bench machine (6 ms of the app's own 50 ms for 14).
_DATACLASSES_WITH_A_MADE_DOCSTRING = f"""
import dataclasses, inspect, json, sys
sys.path[:0] = [{str(ROOT / "functions/proxy")!r}, {str(ROOT / "layers/common")!r}]
import app

made = []
for name, module in list(sys.modules.items()):
    if not name.startswith("tollgate"):
        continue
    for value in vars(module).values():
        if dataclasses.is_dataclass(value) and isinstance(value, type):
            if value.__module__ == name and value.__doc__.startswith(value.__name__ + "("):
                made.append(f"{{name}}.{{value.__qualname__}}")
print(json.dumps(sorted(made)))
"""


def test_every_dataclass_the_proxy_imports_has_its_own_docstring():
    # Given a fresh interpreter where the proxy's app is imported, as on a cold start
    done = subprocess.run(
        [sys.executable, "-c", _DATACLASSES_WITH_A_MADE_DOCSTRING],
        capture_output=True,
        text=True,
        check=True,
    )

    # Then no dataclass of ours had dataclasses make its docstring from its signature
    assert json.loads(done.stdout.splitlines()[-1]) == []


_IMPORTED_BY_THE_PROXY = f"""
import json, sys
sys.path[:0] = [{str(ROOT / "functions/proxy")!r}, {str(ROOT / "layers/common")!r}]
import app

print(json.dumps(sorted(sys.modules)))
"""


def test_the_proxy_imports_neither_jinja2_nor_the_notifications():
    # Given a fresh interpreter where the proxy's app is imported, as on a cold start
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED_BY_THE_PROXY], capture_output=True, text=True, check=True
    )
    imported = set(json.loads(done.stdout.splitlines()[-1]))

    # Then the mail templates' engine and the notification services cost it nothing
    assert "jinja2" not in imported
    assert not {name for name in imported if name.startswith("tollgate.notifications")}
