"""The one permission table covers every route of the API, and its roles nest as documented."""

from __future__ import annotations

import pytest

from devstack.template import Template
from tollgate import permissions
from tollgate.permissions import (
    ADMIN,
    BILLING,
    CALLER_KINDS,
    DEVELOPER,
    OWNER,
    ROLE_PERMISSIONS,
    VIEWER,
)


def template_routes() -> set[tuple[str, str]]:
    return {(route.method.upper(), route.path) for route in Template.load().routes()}


def test_every_route_of_the_api_has_an_entry_and_every_entry_a_route():
    assert template_routes() == set(permissions.ROUTES)


@pytest.mark.parametrize("route", sorted(permissions.ROUTES))
def test_each_route_needs_a_known_permission_or_caller_kind(route):
    known = set().union(*ROLE_PERMISSIONS.values()) | CALLER_KINDS
    needs = permissions.route_needs(*route)
    assert needs and set(needs) <= known


def test_an_owner_may_do_all_an_admin_may_and_delete_the_account():
    assert ROLE_PERMISSIONS[ADMIN] < ROLE_PERMISSIONS[OWNER]
    assert permissions.ACCOUNT_DELETE not in ROLE_PERMISSIONS[ADMIN]


def test_a_viewer_only_reads_but_may_ask_support_like_every_member():
    changes = ROLE_PERMISSIONS[VIEWER] - {permissions.TICKETS_WRITE}
    assert all(name.endswith(".read") for name in changes)
    assert all(permissions.TICKETS_WRITE in granted for granted in ROLE_PERMISSIONS.values())


def test_billing_tops_up_and_developers_make_only_their_own_keys():
    assert permissions.WALLET_TOP_UP in ROLE_PERMISSIONS[BILLING]
    assert permissions.KEYS_MANAGE not in ROLE_PERMISSIONS[BILLING] | ROLE_PERMISSIONS[DEVELOPER]
    assert permissions.OWN_KEYS_MANAGE in ROLE_PERMISSIONS[DEVELOPER]


def test_a_route_missing_from_the_table_needs_what_nobody_has():
    assert permissions.route_needs("GET", "/v1/not-a-route") == ()
