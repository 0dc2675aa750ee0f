"""Every management route, called by every kind of caller, is allowed or refused exactly as the
one permission table says. Generated from the table and the template: a new route joins the
matrix by being in template.yaml, and fails tests/unit/test_permissions.py until it has an
entry."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from devstack.template import Route
from tests.integration.conftest import event
from tests.support.environment import TEMPLATE
from tollgate import permissions
from tollgate.permissions import ADMIN, CALLER_KINDS

REFUSALS = {"admin_key_required", "owner_required", "permission_denied"}
MANAGEMENT_ROUTES = sorted(
    (
        route
        for route in TEMPLATE.routes()
        if not set(permissions.route_needs(route.method, route.path)) & CALLER_KINDS
    ),
    key=lambda route: (route.path, route.method),
)


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # the role whose permissions it holds; None: none at all


KEY_CALLERS = [Caller("admin key", ADMIN), Caller("inference key", None)]


def route_event(route: Route, key: str) -> dict:
    """A request to ``route`` with placeholder ids and an empty JSON object for a body."""
    request = event("keys_list", key=key, query={})
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    parameters = {name: f"missing_{name}" for name in names}
    request["pathParameters"] = parameters or None
    request["resource"] = request["requestContext"]["resourcePath"] = route.path
    request["path"] = route.path.format(**parameters)
    request["httpMethod"] = request["requestContext"]["httpMethod"] = route.method
    request["body"] = None if route.method == "GET" else json.dumps({})
    return request


def refused(answer) -> bool:
    body = answer.body if isinstance(answer.body, dict) else {}
    return answer.status == 403 and body.get("error", {}).get("code") in REFUSALS


def key_callers(invoke, account) -> dict[Caller, str]:
    """An account's admin key and a new inference key, by caller."""
    made = invoke(
        "KeysFunction", event("keys_create", key=account.admin_key, body={"role": "inference"})
    )
    return {KEY_CALLERS[0]: account.admin_key, KEY_CALLERS[1]: made.body["secret"]}


@pytest.mark.parametrize("route", MANAGEMENT_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_caller_reaches_a_route_only_with_its_permission(invoke, new_account, route):
    # given an account with a caller of each kind
    callers = key_callers(invoke, new_account())
    needs = permissions.route_needs(route.method, route.path)

    # when each calls the route
    answers = {
        caller: invoke(route.function, route_event(route, key)) for caller, key in callers.items()
    }

    # then each is refused exactly when its role lacks every permission the route accepts
    wrong = {
        caller.name: (answer.status, answer.body)
        for caller, answer in answers.items()
        if refused(answer)
        is (caller.role is not None and bool(permissions.granted(caller.role, needs)))
    }
    assert not wrong
