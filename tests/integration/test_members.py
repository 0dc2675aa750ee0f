"""An account's people: invitations, acceptance, role changes, removal and leaving, the
last-owner rule, and the accounts a person belongs to, through MembersFunction.

Console sessions are not on this branch: a member caller is the test header ``x-test-session``
(``person id|verified email``), which the ``sessions`` fixture turns into the principal the
session branch of ``auth.authorize`` will make: ``auth.person_principal`` on a PERSON route,
``auth.member_principal`` on any other. When sessions land, ``as_person`` sends a real session
token instead and the fixture goes; nothing else changes.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.integration.conftest import event
from tollgate import auth, clock, members, permissions
from tollgate.errors import TollgateError
from tollgate.settings import get_settings
from tollgate.store import members as member_store

SESSION_HEADER = "x-test-session"


@pytest.fixture
def sessions(monkeypatch):
    """Stands in for the session branch of ``auth.authorize`` (the identity work)."""
    real = auth.authorize

    def authorize(headers, needs, *, settings):
        session = {k.lower(): v for k, v in (headers or {}).items()}.get(SESSION_HEADER)
        if session is None:
            return real(headers, needs, settings=settings)
        person_id, email = session.split("|")
        if needs == (permissions.PERSON,):
            return auth.person_principal(person_id, email)
        return auth.member_principal(person_id, headers, needs)

    monkeypatch.setattr(auth, "authorize", authorize)


def as_person(request, person_id, email=None, *, account_id=None):
    """A request made by a signed-in person (on ``account_id`` when given)."""
    request["headers"][SESSION_HEADER] = f"{person_id}|{email or person_id + '@example.com'}"
    if account_id is not None:
        request["headers"]["X-Tollgate-Account"] = account_id
    return request


def add_member(account_id, person_id, role, email=None):
    member_store.member_item(
        account_id,
        person_id,
        email=email or f"{person_id}@example.com",
        name=person_id.title(),
        role=role,
        joined_at=clock.utcnow(),
    ).save()


def role_of(account_id, person_id):
    found = member_store.get_member(account_id, person_id)
    return found.role if found is not None else None


def invite(invoke, key, email="ana@example.com", role="billing"):
    return invoke(
        "MembersFunction", event("invitations_create", key=key, body={"email": email, "role": role})
    )


def accept(invoke, token, person_id, email, **headers):
    request = as_person(
        event("invitations_accept", key=None, body={"token": token}), person_id, email
    )
    request["headers"].update(headers)
    return invoke("MembersFunction", request)


def change(invoke, request_key, person_id, role, caller=None, account_id=None):
    request = event(
        "members_update",
        key=request_key,
        body={"role": role},
        path_parameters={"person_id": person_id},
    )
    if caller is not None:
        as_person(request, caller, account_id=account_id)
    return invoke("MembersFunction", request)


def remove(invoke, request_key, person_id, caller=None, account_id=None):
    request = event("members_remove", key=request_key, path_parameters={"person_id": person_id})
    if caller is not None:
        as_person(request, caller, account_id=account_id)
    return invoke("MembersFunction", request)


def audit_actions(account_id):
    from tollgate import audit

    found, _ = audit.list_events(account_id, limit=100, cursor=None)
    return [(e.action, e.actor, e.target) for e in found]


# ------------------------------------------------------------------------------ invitations


def test_an_admin_key_invites_and_sees_the_token_once_and_only_its_digest_is_stored(
    invoke, new_account
):
    account = new_account()

    sent = invite(invoke, account.admin_key, "Ana@Example.com", "billing")

    assert sent.status == 201, sent.body
    assert sent.body["token"].startswith("tgi-")
    assert sent.body["link"].endswith("#token=" + sent.body["token"])
    assert sent.body["expires_at"] - sent.body["created_at"] == 7 * 24 * 3600
    listed = invoke("MembersFunction", event("invitations_list", key=account.admin_key)).body
    assert [(i["email"], i["role"]) for i in listed["data"]] == [("Ana@Example.com", "billing")]
    assert "token" not in listed["data"][0]
    stored = member_store.invitations_of(account.account_id)
    assert stored[0].digest == members.token_digest(sent.body["token"])
    assert sent.body["token"] not in str([i.attribute_values for i in stored])
    assert ("member.invited", f"key:{_admin_key_id(invoke, account)}") in {
        (a, actor) for a, actor, _ in audit_actions(account.account_id)
    }


def _admin_key_id(invoke, account):
    keys = invoke("KeysFunction", event("keys_list", key=account.admin_key, query={})).body
    return keys["data"][0]["id"]


def test_the_invited_person_accepts_once_and_joins_with_the_invited_role(
    invoke, new_account, sessions
):
    account = new_account()
    token = invite(invoke, account.admin_key, "Ana@Example.com", "billing").body["token"]

    joined = accept(invoke, token, "ana-sub", "ana@example.COM")
    again = accept(invoke, token, "ana-sub", "ana@example.com")

    assert joined.status == 201, joined.body
    assert (joined.body["id"], joined.body["role"]) == ("ana-sub", "billing")
    assert role_of(account.account_id, "ana-sub") == "billing"
    assert again.status == 404 and again.body["error"]["code"] == "invitation_not_found"
    assert member_store.invitations_of(account.account_id) == []
    assert ("member.joined", "person:ana-sub", "person:ana-sub") in audit_actions(
        account.account_id
    )


def test_an_invitation_is_accepted_only_by_its_email(invoke, new_account, sessions):
    account = new_account()
    token = invite(invoke, account.admin_key, "ana@example.com").body["token"]

    refused = accept(invoke, token, "mallory-sub", "mallory@example.com")

    assert refused.status == 403 and refused.body["error"]["code"] == "invitation_email_mismatch"
    assert role_of(account.account_id, "mallory-sub") is None
    assert accept(invoke, token, "ana-sub", "ana@example.com").status == 201


def test_accepting_into_an_account_one_already_belongs_to_is_a_conflict(
    invoke, new_account, sessions
):
    account = new_account()
    token = invite(invoke, account.admin_key, "ana@example.com", "admin").body["token"]
    add_member(account.account_id, "ana-sub", "viewer", "ana.old@example.com")  # joined since

    answer = accept(invoke, token, "ana-sub", "ana@example.com")

    assert answer.status == 409 and answer.body["error"]["code"] == "already_member"
    assert role_of(account.account_id, "ana-sub") == "viewer"
    assert len(member_store.invitations_of(account.account_id)) == 1


def test_an_expired_invitation_cannot_be_accepted_nor_is_it_listed(invoke, new_account, sessions):
    account = new_account()
    admin = auth.authorize(
        {"Authorization": f"Bearer {account.admin_key}"},
        permissions.route_needs("POST", "/v1/members/invitations"),
        settings=get_settings(),
    )
    eight_days_ago = clock.utcnow() - timedelta(days=8)
    sent = members.invite(
        admin,
        members.NewInvitation("ana@example.com", "viewer"),
        settings=get_settings(),
        now=eight_days_ago,
    )

    answer = accept(invoke, sent.token, "ana-sub", "ana@example.com")
    listed = invoke("MembersFunction", event("invitations_list", key=account.admin_key)).body

    assert answer.status == 404 and answer.body["error"]["code"] == "invitation_expired"
    assert role_of(account.account_id, "ana-sub") is None
    assert listed["data"] == []


def test_a_revoked_invitation_cannot_be_accepted(invoke, new_account, sessions):
    account = new_account()
    sent = invite(invoke, account.admin_key).body

    revoked = invoke(
        "MembersFunction",
        event(
            "invitations_revoke",
            key=account.admin_key,
            path_parameters={"invitation_id": sent["id"]},
        ),
    )
    answer = accept(invoke, sent["token"], "ana-sub", "ana@example.com")

    assert revoked.status == 200
    assert answer.status == 404 and answer.body["error"]["code"] == "invitation_not_found"
    assert "invitation.revoked" in [a for a, _, _ in audit_actions(account.account_id)]


def test_a_new_invitation_to_the_same_email_replaces_the_pending_one(invoke, new_account, sessions):
    account = new_account()
    first = invite(invoke, account.admin_key, "ana@example.com", "viewer").body
    second = invite(invoke, account.admin_key, "ANA@example.com", "developer").body

    listed = invoke("MembersFunction", event("invitations_list", key=account.admin_key)).body

    assert [i["id"] for i in listed["data"]] == [second["id"]]
    assert accept(invoke, first["token"], "ana-sub", "ana@example.com").status == 404
    assert accept(invoke, second["token"], "ana-sub", "ana@example.com").body["role"] == "developer"


def test_another_accounts_invitation_cannot_be_revoked(invoke, new_account):
    mine, theirs = new_account(), new_account()
    their_invitation = invite(invoke, theirs.admin_key).body["id"]

    answer = invoke(
        "MembersFunction",
        event(
            "invitations_revoke",
            key=mine.admin_key,
            path_parameters={"invitation_id": their_invitation},
        ),
    )

    assert answer.status == 404 and answer.body["error"]["code"] == "invitation_not_found"
    assert len(member_store.invitations_of(theirs.account_id)) == 1


def test_a_token_for_one_account_joins_that_account_whatever_account_is_chosen(
    invoke, new_account, sessions
):
    a, b = new_account(), new_account()
    add_member(b.account_id, "ana-sub", "viewer", "ana@example.com")
    token = invite(invoke, a.admin_key, "ana@example.com", "admin").body["token"]

    joined = accept(
        invoke, token, "ana-sub", "ana@example.com", **{"X-Tollgate-Account": b.account_id}
    )

    assert joined.status == 201
    assert role_of(a.account_id, "ana-sub") == "admin"
    assert role_of(b.account_id, "ana-sub") == "viewer"


def test_an_admin_key_cannot_invite_an_owner(invoke, new_account):
    account = new_account()

    answer = invite(invoke, account.admin_key, "boss@example.com", "owner")

    assert answer.status == 403 and answer.body["error"]["code"] == "owner_required"
    assert member_store.invitations_of(account.account_id) == []


def test_an_owner_invites_an_owner_whose_invitation_an_admin_key_cannot_touch(
    invoke, new_account, sessions
):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    by_owner = invoke(
        "MembersFunction",
        as_person(
            event(
                "invitations_create", key=None, body={"email": "boss@example.com", "role": "owner"}
            ),
            "olga-sub",
        ),
    )

    replaced = invite(invoke, account.admin_key, "boss@example.com", "viewer")
    revoked = invoke(
        "MembersFunction",
        event(
            "invitations_revoke",
            key=account.admin_key,
            path_parameters={"invitation_id": by_owner.body["id"]},
        ),
    )
    joined = accept(invoke, by_owner.body["token"], "boss-sub", "boss@example.com")

    assert by_owner.status == 201
    assert replaced.status == 403 and revoked.status == 403
    assert joined.status == 201 and role_of(account.account_id, "boss-sub") == "owner"


def test_inviting_a_member_is_a_conflict(invoke, new_account):
    account = new_account()
    add_member(account.account_id, "ana-sub", "viewer", "ana@example.com")

    answer = invite(invoke, account.admin_key, "Ana@example.com", "admin")

    assert answer.status == 409 and answer.body["error"]["code"] == "already_member"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ana@example.com"},
        {"email": "nope", "role": "viewer"},
        {"email": "ana@example.com", "role": "emperor"},
        {"email": "a@b.co", "role": "viewer", "x": 1},
    ],
)
def test_a_malformed_invitation_is_a_400(invoke, new_account, body):
    account = new_account()

    answer = invoke(
        "MembersFunction", event("invitations_create", key=account.admin_key, body=body)
    )

    assert answer.status == 400, answer.body


def test_an_api_key_cannot_accept_an_invitation_or_list_a_persons_accounts(invoke, new_account):
    account = new_account()
    token = invite(invoke, account.admin_key).body["token"]

    accepted = invoke(
        "MembersFunction", event("invitations_accept", key=account.admin_key, body={"token": token})
    )
    listed = invoke("MembersFunction", event("me_accounts", key=account.admin_key))
    bad_key = invoke("MembersFunction", event("me_accounts", key="tg-not-a-key"))

    assert accepted.status == 403 and accepted.body["error"]["code"] == "person_required"
    assert listed.status == 403
    assert bad_key.status == 401


# ------------------------------------------------------------------------------ members


def test_the_members_list_shows_each_members_id_email_name_role_and_joining(invoke, new_account):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "dev-sub", "developer")

    answer = invoke("MembersFunction", event("members_list", key=account.admin_key))

    assert answer.status == 200
    assert [(m["id"], m["email"], m["name"], m["role"]) for m in answer.body["data"]] == [
        ("olga-sub", "olga-sub@example.com", "Olga-Sub", "owner"),
        ("dev-sub", "dev-sub@example.com", "Dev-Sub", "developer"),
    ]
    assert all(isinstance(m["joined_at"], int) for m in answer.body["data"])


def test_an_admin_key_changes_and_removes_members_but_not_owners(invoke, new_account):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "dev-sub", "developer")

    changed = change(invoke, account.admin_key, "dev-sub", "admin")
    promoted = change(invoke, account.admin_key, "dev-sub", "owner")
    demoted_owner = change(invoke, account.admin_key, "olga-sub", "viewer")
    removed_owner = remove(invoke, account.admin_key, "olga-sub")
    removed = remove(invoke, account.admin_key, "dev-sub")

    assert changed.status == 200 and changed.body["role"] == "admin"
    assert promoted.status == 403 and promoted.body["error"]["code"] == "owner_required"
    assert demoted_owner.status == 403 and removed_owner.status == 403
    assert removed.status == 200
    assert role_of(account.account_id, "olga-sub") == "owner"
    assert role_of(account.account_id, "dev-sub") is None
    actions = [a for a, _, _ in audit_actions(account.account_id)]
    assert "member.role_changed" in actions and "member.removed" in actions


def test_another_accounts_member_is_not_found(invoke, new_account):
    mine, theirs = new_account(), new_account()
    add_member(theirs.account_id, "dev-sub", "developer")

    changed = change(invoke, mine.admin_key, "dev-sub", "viewer")
    removed = remove(invoke, mine.admin_key, "dev-sub")

    assert changed.status == 404 and changed.body["error"]["code"] == "member_not_found"
    assert removed.status == 404
    assert role_of(theirs.account_id, "dev-sub") == "developer"


def test_an_unknown_role_is_a_400(invoke, new_account):
    account = new_account()
    add_member(account.account_id, "dev-sub", "developer")

    assert change(invoke, account.admin_key, "dev-sub", "superuser").status == 400


def test_a_removed_members_next_request_is_refused(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "dev-sub", "developer")
    listing = as_person(event("members_list", key=None), "dev-sub")
    assert invoke("MembersFunction", listing).status == 200

    remove(invoke, account.admin_key, "dev-sub")
    answer = invoke(
        "MembersFunction",
        as_person(event("members_list", key=None), "dev-sub", account_id=account.account_id),
    )

    assert answer.status == 403 and answer.body["error"]["code"] == "not_a_member"


def test_an_admin_member_cannot_promote_to_owner_nor_touch_an_owner(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "adam-sub", "admin")
    add_member(account.account_id, "dev-sub", "developer")

    promoted = change(invoke, None, "dev-sub", "owner", caller="adam-sub")
    self_promoted = change(invoke, None, "adam-sub", "owner", caller="adam-sub")
    demoted = change(invoke, None, "olga-sub", "admin", caller="adam-sub")
    removed = remove(invoke, None, "olga-sub", caller="adam-sub")
    changed = change(invoke, None, "dev-sub", "viewer", caller="adam-sub")

    assert [a.status for a in (promoted, self_promoted, demoted, removed)] == [403] * 4
    assert changed.status == 200
    assert role_of(account.account_id, "olga-sub") == "owner"
    assert role_of(account.account_id, "dev-sub") == "viewer"


def test_an_owner_makes_another_owner_and_then_may_step_down(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "adam-sub", "admin")

    promoted = change(invoke, None, "adam-sub", "owner", caller="olga-sub")
    stepped_down = change(invoke, None, "olga-sub", "admin", caller="olga-sub")

    assert promoted.status == 200 and stepped_down.status == 200
    assert role_of(account.account_id, "adam-sub") == "owner"
    assert role_of(account.account_id, "olga-sub") == "admin"
    assert ("member.role_changed", "person:olga-sub", "person:adam-sub") in audit_actions(
        account.account_id
    )


def test_the_last_owner_can_neither_step_down_nor_leave(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")

    demoted = change(invoke, None, "olga-sub", "admin", caller="olga-sub")
    left = remove(invoke, None, "olga-sub", caller="olga-sub")

    assert demoted.status == 409 and demoted.body["error"]["code"] == "last_owner"
    assert left.status == 409 and left.body["error"]["code"] == "last_owner"
    assert role_of(account.account_id, "olga-sub") == "owner"


def test_any_member_may_leave_but_removes_nobody_else(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "vera-sub", "viewer")
    add_member(account.account_id, "dev-sub", "developer")

    removed_other = remove(invoke, None, "dev-sub", caller="vera-sub")
    left = remove(invoke, None, "vera-sub", caller="vera-sub")

    assert removed_other.status == 403
    assert left.status == 200
    assert role_of(account.account_id, "vera-sub") is None
    assert role_of(account.account_id, "dev-sub") == "developer"
    assert ("member.removed", "person:vera-sub", "person:vera-sub") in audit_actions(
        account.account_id
    )


def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    new_account, atomic_requests, monkeypatch
):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "otto-sub", "owner")
    both_read_the_owners = threading.Barrier(2)
    write = member_store.change_role

    def after_both_read(member, role, *, other_owner=None):
        if not both_read_the_owners.broken:
            both_read_the_owners.wait()
        write(member, role, other_owner=other_owner)

    monkeypatch.setattr(member_store, "change_role", after_both_read)
    outcomes: dict[str, str] = {}

    def demote(caller: str, target: str) -> None:
        principal = auth.member_principal(
            caller,
            {"X-Tollgate-Account": account.account_id},
            permissions.route_needs("PATCH", "/v1/members/{person_id}"),
        )
        try:
            members.change_role(principal, target, "admin")
            outcomes[caller] = "done"
        except TollgateError as error:
            outcomes[caller] = error.code

    threads = [
        threading.Thread(target=demote, args=("olga-sub", "otto-sub")),
        threading.Thread(target=demote, args=("otto-sub", "olga-sub")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["done", "last_owner"]
    owners = [m.person_id for m in member_store.owners_of(account.account_id)]
    assert len(owners) == 1


def test_two_owners_leaving_at_once_leave_one_owner(new_account, atomic_requests, monkeypatch):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "otto-sub", "owner")
    both_read_the_owners = threading.Barrier(2)
    write = member_store.remove_member

    def after_both_read(member, *, other_owner=None):
        if not both_read_the_owners.broken:
            both_read_the_owners.wait()
        write(member, other_owner=other_owner)

    monkeypatch.setattr(member_store, "remove_member", after_both_read)
    outcomes: dict[str, str] = {}

    def leave(person_id: str) -> None:
        principal = auth.member_principal(
            person_id,
            {"X-Tollgate-Account": account.account_id},
            permissions.route_needs("DELETE", "/v1/members/{person_id}"),
        )
        try:
            members.remove_member(principal, person_id)
            outcomes[person_id] = "done"
        except TollgateError as error:
            outcomes[person_id] = error.code

    threads = [threading.Thread(target=leave, args=(p,)) for p in ("olga-sub", "otto-sub")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["done", "last_owner"]
    assert len(member_store.owners_of(account.account_id)) == 1


def transfer(invoke, request_key, person_id, caller=None):
    request = event(
        "members_transfer_ownership", key=request_key, path_parameters={"person_id": person_id}
    )
    if caller is not None:
        as_person(request, caller)
    return invoke("MembersFunction", request)


def test_an_owner_hands_ownership_to_a_member_and_becomes_an_admin(invoke, new_account, sessions):
    account = new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "dev-sub", "developer")

    answer = transfer(invoke, None, "dev-sub", caller="olga-sub")

    assert answer.status == 200 and answer.body["role"] == "owner"
    assert role_of(account.account_id, "dev-sub") == "owner"
    assert role_of(account.account_id, "olga-sub") == "admin"
    events = audit_actions(account.account_id)
    assert ("member.role_changed", "person:olga-sub", "person:dev-sub") in events
    assert ("member.role_changed", "person:olga-sub", "person:olga-sub") in events


def test_only_a_signed_in_owner_transfers_ownership_and_to_another_member_of_the_account(
    invoke, new_account, sessions
):
    account, other = new_account(), new_account()
    add_member(account.account_id, "olga-sub", "owner")
    add_member(account.account_id, "adam-sub", "admin")
    add_member(other.account_id, "bob-sub", "viewer")

    by_key = transfer(invoke, account.admin_key, "adam-sub")
    by_admin = transfer(invoke, None, "adam-sub", caller="adam-sub")
    by_admin_to_owner = transfer(invoke, None, "olga-sub", caller="adam-sub")
    to_self = transfer(invoke, None, "olga-sub", caller="olga-sub")
    to_stranger = transfer(invoke, None, "bob-sub", caller="olga-sub")

    assert [by_key.status, by_admin.status, by_admin_to_owner.status] == [403, 403, 403]
    assert to_self.status == 400
    assert to_stranger.status == 404
    assert role_of(account.account_id, "olga-sub") == "owner"
    assert role_of(account.account_id, "adam-sub") == "admin"
    assert role_of(other.account_id, "bob-sub") == "viewer"


# ------------------------------------------------------------------------------ a person


def test_a_person_lists_their_accounts_and_roles(invoke, new_account, sessions):
    first, second, other = new_account(), new_account(), new_account()
    add_member(first.account_id, "ana-sub", "owner")
    add_member(second.account_id, "ana-sub", "billing")
    add_member(other.account_id, "bob-sub", "owner")

    answer = invoke("MembersFunction", as_person(event("me_accounts", key=None), "ana-sub"))

    assert answer.status == 200
    assert {(a["id"], a["role"], a["name"]) for a in answer.body["data"]} == {
        (first.account_id, "owner", "Customer"),
        (second.account_id, "billing", "Customer"),
    }


def test_a_person_in_several_accounts_must_choose_one(invoke, new_account, sessions):
    first, second = new_account(), new_account()
    add_member(first.account_id, "ana-sub", "viewer")
    add_member(second.account_id, "ana-sub", "admin")

    unchosen = invoke("MembersFunction", as_person(event("members_list", key=None), "ana-sub"))
    chosen = invoke(
        "MembersFunction",
        as_person(event("members_list", key=None), "ana-sub", account_id=second.account_id),
    )

    assert unchosen.status == 400 and unchosen.body["error"]["code"] == "account_required"
    assert chosen.status == 200
    assert [m["id"] for m in chosen.body["data"]] == ["ana-sub"]


def test_a_person_cannot_act_on_an_account_they_do_not_belong_to(invoke, new_account, sessions):
    mine, theirs = new_account(), new_account()
    add_member(mine.account_id, "ana-sub", "owner")
    add_member(theirs.account_id, "bob-sub", "developer")

    answer = change(
        invoke, None, "bob-sub", "viewer", caller="ana-sub", account_id=theirs.account_id
    )

    assert answer.status == 403 and answer.body["error"]["code"] == "not_a_member"
    assert role_of(theirs.account_id, "bob-sub") == "developer"
