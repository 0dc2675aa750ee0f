"""`python -m devstack invoke` runs one function with an event file against the running stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.stack import COMMAND_TIMEOUT_S

pytestmark = pytest.mark.e2e


def test_invoke_runs_a_function_with_an_event_file(devstack, tmp_path):
    event = json.loads((ROOT / "events" / "keys_list.json").read_text())
    authorization = f"Bearer {devstack['TOLLGATE_ADMIN_KEY']}"
    event["headers"]["Authorization"] = authorization
    event["multiValueHeaders"]["Authorization"] = [authorization]
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--state-dir",
            devstack["STATE_DIR"],
            "invoke",
            "KeysFunction",
            "--event",
            str(event_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    )

    result = json.loads(done.stdout)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["object"] == "list"
