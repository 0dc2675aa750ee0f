"""What `sam build` ships for the layer and the proxy: bytecode the runtime uses as it is.

The build itself (`make build`) needs the package registry and minutes; these tests run its
compile step offline under the test's own interpreter, and the checker that `make bench` runs
under python3.13 against the real build output.
"""

from __future__ import annotations

import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bytecode import describe, verdicts
from devstack.template import ROOT
from tests.support.environment import TEMPLATE

BUILT_BY_MAKEFILE = ["CommonLayer", "ProxyFunction"]


def compile_with_the_build(directory: Path) -> None:
    """Run lambda.mk's compile step, as the layer's and the proxy's Makefiles do."""
    makefile = f"include {ROOT / 'lambda.mk'}\nall:\n\t$(call compile,{directory})\n"
    subprocess.run(
        ["make", "--no-print-directory", "-f", "-", f"LAMBDA_PYTHON={sys.executable}"],
        input=makefile,
        text=True,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def layer_copy(tmp_path: Path) -> Path:
    sources = ROOT / "layers/common/tollgate"
    shutil.copytree(sources, tmp_path / "python/tollgate", ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path / "python"


@pytest.mark.parametrize("logical_id", BUILT_BY_MAKEFILE)
def test_the_layer_and_the_proxy_are_built_by_their_makefiles(logical_id):
    resource = TEMPLATE.resources[logical_id]
    assert resource["Metadata"]["BuildMethod"] == "makefile"
    source = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
    assert f"build-{logical_id}:" in (ROOT / source / "Makefile").read_text()


def test_the_builds_bytecode_is_used_as_it_is_whatever_the_zip_does_to_mtimes(layer_copy):
    # Given a copy of the layer's sources
    # When the build's compile step runs over it
    compile_with_the_build(layer_copy)

    # Then every module has an unchecked-hash .pyc of its very source for this interpreter
    found = verdicts(layer_copy)
    assert set(found) == {"ok"}, describe(found)
    assert found["ok"] == len(list(layer_copy.rglob("*.py")))


def test_the_checker_names_bytecode_the_runtime_would_compile_again(tmp_path):
    # Given modules with timestamp bytecode, none, another Python's, and bytecode left stale
    for name in ("timestamp", "missing", "foreign", "stale", "good"):
        (tmp_path / f"{name}.py").write_text(f"NAME = {name!r}\n")
    unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
    for name in ("foreign", "stale", "good"):
        py_compile.compile(str(tmp_path / f"{name}.py"), invalidation_mode=unchecked)
    py_compile.compile(
        str(tmp_path / "timestamp.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP
    )
    foreign = next(tmp_path.glob("__pycache__/foreign.*.pyc"))
    foreign.write_bytes(b"\x00\x00\r\n" + foreign.read_bytes()[4:])
    (tmp_path / "stale.py").write_text("NAME = 'edited after the build'\n")

    # When the checker looks at them
    found = verdicts(tmp_path)

    # Then only the good one passes, and each other is named for what is wrong with it
    assert found == {
        "ok": 1,
        "not unchecked-hash": 1,
        "no .pyc": 1,
        "another Python's magic number": 1,
        "compiled from another source": 1,
    }
    assert "1 of 5 modules" in describe(found)
