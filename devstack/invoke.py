"""Commands that act on the running local stack, whose environment devstack wrote to its
state file: ``invoke`` runs one function once, as `sam local invoke` would (with the
function's timeout, and a scheduled event's ``time`` as its clock if asked); ``credit`` adds
credit to an account's wallet through the layer's ledger; ``verify-audit`` walks an account's
audit chain; ``pay`` tops a wallet up through Checkout and the Stripe stand-in."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.lambda_runtime import LambdaContext, load_handler
from devstack.template import Template


def use_running_stack(state_dir: Path) -> None:
    state_file = state_dir / "state.json"
    if not state_file.exists():
        raise SystemExit("devstack is not running: start it with `make run` first")
    os.environ.update(json.loads(state_file.read_text())["environment"])


def at_time(event: dict[str, Any], now: str) -> dict[str, Any]:
    """The event as EventBridge would send it at ``now``: a scheduled function takes its
    clock from the event's ``time`` (ISO 8601, UTC, e.g. 2027-03-01T03:30:00Z)."""
    try:
        moment = datetime.fromisoformat(now)
    except ValueError:
        raise SystemExit(f"--now {now!r} is not an ISO 8601 time") from None
    moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    return {**event, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def invoke_function(logical_id: str, event: dict[str, Any], *, state_dir: Path) -> Any:
    template = Template.load()
    functions = template.functions()
    if logical_id not in functions or functions[logical_id].web_adapter:
        names = ", ".join(name for name, f in functions.items() if not f.web_adapter)
        raise SystemExit(f"no event function {logical_id!r}; the template has {names}")
    use_running_stack(state_dir)
    context = LambdaContext(
        function_name=f"tollgate-local-{logical_id}",
        region=os.environ["AWS_REGION"],
        timeout_seconds=function_timeout(template, logical_id),
    )
    # The function's logs and metrics go to stderr; stdout carries the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        return load_handler(functions[logical_id])(event, context)


def function_timeout(template: Template, logical_id: str) -> float:
    """The function's Timeout in the template (else the Globals'), as Lambda would give it."""
    own = template.resources[logical_id].get("Properties", {}).get("Timeout")
    default = template.document.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    return float(own or default)


def credit_account(account_id: str, amount_usd: str, *, state_dir: Path) -> dict[str, Any]:
    use_running_stack(state_dir)
    from tollgate import ledger, money
    from tollgate.store import wallet

    with contextlib.redirect_stdout(sys.stderr):
        entry = ledger.credit(
            account_id, money.parse_usd(amount_usd), kind="adjustment", reason="devstack credit"
        )
        found = wallet.get_wallet(account_id)
    balance = int(found.balance) if found else 0
    return {"entry_id": entry.entry_id, "balance_usd": money.format_usd(balance)}


def verify_audit_chain(account_id: str, *, state_dir: Path) -> dict[str, Any]:
    use_running_stack(state_dir)
    from tollgate import audit

    with contextlib.redirect_stdout(sys.stderr):
        return audit.verify_chain(account_id).as_dict()


def pay(amount_usd: str, *, account_id: str | None, state_dir: Path) -> dict[str, Any]:
    """A top-up as a customer makes it: a Checkout Session through ``POST /v1/wallet/checkout``
    (the running API, with an admin key), paid on the Stripe stand-in, which sends the signed
    ``checkout.session.completed`` webhook; then the payment and the wallet, as the API shows
    them. Without ``account_id``, the demo account pays with its admin key; another account
    gets a short-lived admin key, revoked afterwards."""
    use_running_stack(state_dir)
    state = json.loads((state_dir / "state.json").read_text())
    api_url, demo = state["api_url"], state["demo"]
    with contextlib.redirect_stdout(sys.stderr):
        if account_id is None or account_id == demo["account_id"]:
            return _pay(api_url, demo["admin_key"], amount_usd)
        from tollgate import audit, keys
        from tollgate.store import keys as key_store

        if key_store.get_account(account_id) is None:
            raise SystemExit(f"no account {account_id!r} in the running stack")
        admin = keys.create_key(account_id, keys.NewKey(name="devstack pay", role="admin"))
        target = f"key:{admin.key.key_id}"
        created = {"role": (None, "admin")}
        audit.record(
            account_id, actor="devstack", action="key.created", target=target, changes=created
        )
        try:
            return _pay(api_url, admin.secret, amount_usd)
        finally:
            keys.revoke_key(account_id, admin.key.key_id)
            revoked = {"status": ("active", "revoked")}
            audit.record(
                account_id, actor="devstack", action="key.revoked", target=target, changes=revoked
            )


def _pay(api_url: str, admin_key: str, amount_usd: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {admin_key}"}
    session = _http("POST", f"{api_url}/v1/wallet/checkout", {"amount_usd": amount_usd}, auth)
    completed = _http("POST", f"{session['url']}/complete", {}, {})
    payment = _http("GET", f"{api_url}/v1/payments/{session['id']}", None, auth)
    wallet = _http("GET", f"{api_url}/v1/wallet", None, auth)
    return {
        "payment": payment,
        "balance_usd": wallet["balance_usd"],
        "wallet": wallet,
        "webhook": completed["webhook"],
    }


def _http(method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SystemExit(f"{method} {url} answered {error.code}: {detail}") from None
