"""The proxy's start-up: run.sh starts serve.py, uvicorn's server without its command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from devstack.template import ROOT

FUNCTION = ROOT / "functions" / "proxy"
LAYER = ROOT / "layers" / "common"
STARTUP_LIMIT_S = 60  # a generous wait on a loaded machine, not a measure of anything


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_healthy(process: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the proxy did not answer /healthz within {STARTUP_LIMIT_S} s")


@pytest.fixture
def started_as_on_lambda() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """run.sh started as the Web Adapter starts it: the task root as working directory, PORT
    set, the layer on PYTHONPATH and the functions' environment (the test session's)."""
    port = free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(LAYER),
    }
    process = subprocess.Popen(
        [str(FUNCTION / "run.sh")],
        cwd=FUNCTION,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_run_sh_serves_the_app_on_port_and_stops_cleanly_on_sigterm(started_as_on_lambda):
    # Given the proxy started by run.sh
    process, base = started_as_on_lambda
    wait_until_healthy(process, base)

    # When a client asks for the models without a key
    status, body = get(f"{base}/v1/models")

    # Then the app answers it, in OpenAI's error format
    assert status == 401
    assert json.loads(body)["error"]["code"] == "missing_api_key"

    # And when the runtime stops it, it shuts down cleanly (uvicorn then raises the signal it
    # caught again, so the process ends as SIGTERM's), having logged no request
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=STARTUP_LIMIT_S)
    assert process.returncode == -signal.SIGTERM, err
    assert "Traceback" not in err
    assert "Application shutdown complete" in err and "Finished server process" in err
    assert "/v1/models" not in out + err


_LOADS_THE_SERVER = f"""
import json, sys
sys.path[:0] = [{str(FUNCTION)!r}, {str(LAYER)!r}]
import serve
config_class, server_class = serve.uvicorn_server()
config = config_class(serve.APP, host=serve.HOST, port=0, access_log=False)
config.load()
assert config.loaded_app is not None
before = sorted(name for name in sys.modules if name.split(".")[0] == "click")
import uvicorn
print(json.dumps([before, uvicorn.__version__, "click" in sys.modules, callable(uvicorn.run)]))
"""


def test_the_launcher_loads_uvicorn_without_its_command_line_until_asked_for_it():
    # Given a fresh interpreter where the launcher loads uvicorn's server and the app
    done = subprocess.run(
        [sys.executable, "-c", _LOADS_THE_SERVER], capture_output=True, text=True, check=True
    )
    click_at_start, version, click_later, run_is_there = json.loads(done.stdout.splitlines()[-1])

    # Then nothing of click (uvicorn's command line) was imported for it
    assert click_at_start == []
    # And the package still answers what its __init__ defines, running it when asked
    assert version == metadata.version("uvicorn")
    assert click_later and run_is_there
