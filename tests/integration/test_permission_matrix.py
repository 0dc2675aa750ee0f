"""Every management route, called by every kind of caller, is allowed or refused exactly as the
one permission table says. Generated from the table and the template: a new route joins the
matrix by being in template.yaml, and until it has an entry in the table it fails here (every
caller is refused with ``route_not_permitted``, which no role's expectation allows) and in
tests/unit/test_permissions.py.

The callers of a route are an account's admin key and an inference key, and a signed-in
member of each role; a PERSON route (any signed-in person) is called by a person who belongs
to no account as well. Each route gets an account of its own, and its callers call it once
each, the least entitled first: a caller the table allows may change the account (the owner
last), never before a caller it refuses. Path parameters are placeholder ids and a body is an
empty object, so an allowed caller gets a 404 or a 400 (or a 2xx), never a refusal code, a 401
or a 5xx.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devstack.template import Route
from tests.integration.conftest import Person, as_person, event, provisioned_stack
from tests.support.environment import TEMPLATE
from tollgate import permissions
from tollgate.permissions import (
    ADMIN,
    BILLING,
    DEVELOPER,
    OPERATOR,
    OWNER,
    PERSON,
    VIEWER,
)

# what a refusal by the permission table answers (403 with one of these codes)
REFUSALS = {"admin_key_required", "owner_required", "permission_denied", "person_required"}
PERSON_ROUTES = {
    (method, path) for (method, path), needs in permissions.ROUTES.items() if needs == PERSON
}


def routes_for_callers() -> list[Route]:
    """The template's routes that an account's keys and people call: every route but the
    operator's, the proxy's and the public ones."""
    outside = {OPERATOR, permissions.INFERENCE, permissions.PUBLIC}
    return sorted(
        (
            route
            for route in TEMPLATE.routes()
            if not set(permissions.route_needs(route.method, route.path)) & outside
        ),
        key=lambda route: (route.path, route.method),
    )


ROUTES = routes_for_callers()


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # the role whose permissions it holds (None: none at all)
    signed_in: bool = False
    member: bool = True  # of the account the request acts on

    def expected(self, method: str, path: str) -> str:
        """What the permission table says this caller gets on this route: ``allowed``,
        ``refused`` (403, one of REFUSALS) or ``not_a_member`` (403)."""
        if (method, path) in PERSON_ROUTES:
            return ALLOWED if self.signed_in else REFUSED
        if not self.member:
            return NOT_A_MEMBER
        held = self.role and permissions.granted(self.role, permissions.route_needs(method, path))
        return ALLOWED if held else REFUSED


ALLOWED, REFUSED, NOT_A_MEMBER = "allowed", "refused", "not_a_member"
# the least entitled first, the owner last (see the module's note)
INFERENCE_KEY = Caller("inference key", None)
ADMIN_KEY = Caller("admin key", ADMIN)
OUTSIDER = Caller("another account's owner choosing this one", OWNER, signed_in=True, member=False)
NO_ACCOUNT = Caller("signed-in person of no account", None, signed_in=True, member=False)
MEMBERS = [
    Caller(f"signed-in {role}", role, signed_in=True)
    for role in (VIEWER, BILLING, DEVELOPER, ADMIN, OWNER)
]


def route_event(route: Route, *, key: str | None = None) -> dict:
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


def error_code(answer) -> str | None:
    body = answer.body if isinstance(answer.body, dict) else {}
    return (body.get("error") or {}).get("code")


def outcome(answer) -> str:
    """What a caller got: ALLOWED, REFUSED or NOT_A_MEMBER, or an error no caller expects (a
    session or key not recognised, a server error)."""
    if answer.status == 401 or answer.status >= 500:
        return f"error {answer.status}"
    if answer.status == 403 and error_code(answer) in REFUSALS:
        return REFUSED
    if answer.status == 403 and error_code(answer) == NOT_A_MEMBER:
        return NOT_A_MEMBER
    return ALLOWED


def signed_in(route: Route, person: Person, account_id: str) -> dict:
    return as_person(route_event(route), person, account_id)


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """One stack for the module: provisioning it is most of a test's time, and each route
    gets accounts and people of its own anyway."""
    with provisioned_stack():
        yield


@pytest.fixture
def callers(invoke, new_account, signed_in_member, signed_in_person):
    """``callers(route) -> [(caller, request)]``: a new account's callers of the route, each
    with its request, in the order they call (people's emails are unique in the module's
    stack)."""

    def build(route: Route) -> list[tuple[Caller, dict]]:
        tag = f"route{next(ROUTE_NUMBERS)}"
        account = new_account(f"{tag}@example.com")
        other = new_account(f"{tag}-other@example.com")
        inference = invoke(
            "KeysFunction",
            event("keys_create", key=account.admin_key, body={"role": "inference"}),
        ).body["secret"]
        outsider = signed_in_member(other.account_id, OWNER, f"{tag}-outsider@example.com")
        made = [
            (INFERENCE_KEY, route_event(route, key=inference)),
            (ADMIN_KEY, route_event(route, key=account.admin_key)),
            (OUTSIDER, signed_in(route, outsider, account.account_id)),
        ]
        if (route.method, route.path) in PERSON_ROUTES:
            person = signed_in_person(f"{tag}-person@example.com")
            made.append((NO_ACCOUNT, signed_in(route, person, account.account_id)))
        for caller in MEMBERS:
            email = f"{tag}-{caller.role}@example.com"
            member = signed_in_member(account.account_id, caller.role, email)
            made.append((caller, signed_in(route, member, account.account_id)))
        return made

    return build


ROUTE_NUMBERS = itertools.count(1)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_caller_reaches_a_route_only_with_its_permission(invoke, callers, route):
    # given an account with a caller of each kind, and another account's owner
    requests = callers(route)

    # when each calls the route
    answers = {caller: invoke(route.function, request) for caller, request in requests}

    # then each is allowed or refused exactly as the table says, and a session choosing an
    # account it does not belong to reaches nothing
    wrong = {
        caller.name: (answer.status, answer.body)
        for caller, answer in answers.items()
        if outcome(answer) != caller.expected(route.method, route.path)
    }
    assert not wrong


def test_the_matrix_holds_every_route_the_table_opens_to_an_accounts_keys_or_people():
    in_matrix = {(route.method, route.path) for route in ROUTES}
    for_keys_or_people = {
        route
        for route, needs in permissions.ROUTES.items()
        if needs not in (OPERATOR, permissions.INFERENCE, permissions.PUBLIC)
    }
    assert in_matrix == for_keys_or_people
    assert in_matrix > PERSON_ROUTES


# ------------------------------------------------------------------------------ membership


def test_a_removed_member_is_refused_on_the_very_next_request(
    invoke, new_account, signed_in_member
):
    # given an admin member who can list the account's keys
    account = new_account()
    admin = signed_in_member(account.account_id, ADMIN)
    listing = as_person(event("keys_list", key=None, query={}), admin, account.account_id)
    assert invoke("KeysFunction", listing).status == 200

    # when an admin key removes them
    removed = invoke(
        "MembersFunction",
        event(
            "members_remove", key=account.admin_key, path_parameters={"person_id": admin.person_id}
        ),
    )
    assert removed.status == 200, removed.body

    # then the same session is refused on its next request, with or without choosing
    again = invoke("KeysFunction", listing)
    assert (again.status, error_code(again)) == (403, "not_a_member")
    unchosen = invoke("KeysFunction", as_person(event("keys_list", key=None, query={}), admin))
    assert (unchosen.status, error_code(unchosen)) == (403, "not_a_member")
