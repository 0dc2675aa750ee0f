"""Commands that act on the running local stack, whose environment devstack wrote to its
state file: ``invoke`` runs one function once, as `sam local invoke` would; ``credit`` adds
credit to an account's wallet through the layer's ledger; ``verify-audit`` walks an account's
audit chain."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from devstack.lambda_runtime import LambdaContext, load_handler
from devstack.template import Template


def use_running_stack(state_dir: Path) -> None:
    state_file = state_dir / "state.json"
    if not state_file.exists():
        raise SystemExit("devstack is not running: start it with `make run` first")
    os.environ.update(json.loads(state_file.read_text())["environment"])


def invoke_function(logical_id: str, event: dict[str, Any], *, state_dir: Path) -> Any:
    functions = Template.load().functions()
    if logical_id not in functions or functions[logical_id].web_adapter:
        names = ", ".join(name for name, f in functions.items() if not f.web_adapter)
        raise SystemExit(f"no event function {logical_id!r}; the template has {names}")
    use_running_stack(state_dir)
    context = LambdaContext(
        function_name=f"tollgate-local-{logical_id}", region=os.environ["AWS_REGION"]
    )
    # The function's logs and metrics go to stderr; stdout carries the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        return load_handler(functions[logical_id])(event, context)


def credit_account(account_id: str, amount_usd: str, *, state_dir: Path) -> dict[str, Any]:
    use_running_stack(state_dir)
    from tollgate import ledger, money
    from tollgate.store import wallet

    with contextlib.redirect_stdout(sys.stderr):
        entry = ledger.credit(
            account_id, money.parse_usd(amount_usd), kind="adjustment", reason="devstack credit"
        )
        balance = wallet.get_wallet(account_id).balance
    return {"entry_id": entry.entry_id, "balance_usd": money.format_usd(balance)}


def verify_audit_chain(account_id: str, *, state_dir: Path) -> dict[str, Any]:
    use_running_stack(state_dir)
    from tollgate import audit

    with contextlib.redirect_stdout(sys.stderr):
        return audit.verify_chain(account_id).as_dict()
