"""``python -m devstack invoke``: run one function once, as `sam local invoke` would, against
the running local stack (whose environment devstack wrote to its state file)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from devstack.lambda_runtime import LambdaContext, load_handler
from devstack.template import Template


def invoke_function(logical_id: str, event: dict[str, Any], *, state_dir: Path) -> Any:
    state_file = state_dir / "state.json"
    if not state_file.exists():
        raise SystemExit("devstack is not running: start it with `make run` first")
    functions = Template.load().functions()
    if logical_id not in functions:
        raise SystemExit(f"no function {logical_id!r}; the template has {', '.join(functions)}")
    os.environ.update(json.loads(state_file.read_text())["environment"])
    context = LambdaContext(
        function_name=f"tollgate-local-{logical_id}", region=os.environ["AWS_REGION"]
    )
    # The function's logs and metrics go to stderr; stdout carries the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        return load_handler(functions[logical_id])(event, context)
