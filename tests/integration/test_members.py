"""An account's people: invitations, acceptance, role changes, removal and leaving, the
last-owner rule, and the accounts a person belongs to, through MembersFunction.

People call with real console sessions: ``signed_in_person`` (an invitee, member of no account
yet), ``signed_in_member`` (a member of an account with a role) and ``as_person`` from
tests/integration/conftest.py; their emails are verified in the user pool, as a confirmed
sign-up's are, and an invitation is accepted only by the session whose verified email it was
sent to. People who only appear as targets (never calling) are written to the Member store
directly.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.integration.conftest import Person, as_person, event
from tollgate import auth, clock, members, permissions
from tollgate.errors import TollgateError
from tollgate.settings import get_settings
from tollgate.store import members as member_store


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


def accept(invoke, token, person: Person, account_id: str | None = None):
    """``person`` accepts with their session (acting on ``account_id`` when given)."""
    request = event("invitations_accept", key=None, body={"token": token})
    return invoke("MembersFunction", as_person(request, person, account_id))


def change(invoke, request_key, person_id, role, caller: Person | None = None, account_id=None):
    request = event(
        "members_update",
        key=request_key,
        body={"role": role},
        path_parameters={"person_id": person_id},
    )
    if caller is not None:
        as_person(request, caller, account_id)
    return invoke("MembersFunction", request)


def remove(invoke, request_key, person_id, caller: Person | None = None, account_id=None):
    request = event("members_remove", key=request_key, path_parameters={"person_id": person_id})
    if caller is not None:
        as_person(request, caller, account_id)
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
    invoke, new_account, signed_in_person
):
    account = new_account()
    token = invite(invoke, account.admin_key, "Ana@Example.com", "billing").body["token"]
    ana = signed_in_person("ana@example.com")

    joined = accept(invoke, token, ana)
    again = accept(invoke, token, ana)

    assert joined.status == 201, joined.body
    assert (joined.body["id"], joined.body["role"]) == (ana.person_id, "billing")
    assert role_of(account.account_id, ana.person_id) == "billing"
    assert again.status == 404 and again.body["error"]["code"] == "invitation_not_found"
    assert member_store.invitations_of(account.account_id) == []
    me = f"person:{ana.person_id}"
    assert ("member.joined", me, me) in audit_actions(account.account_id)


def test_an_invitation_is_accepted_only_by_its_email(invoke, new_account, signed_in_person):
    account = new_account()
    token = invite(invoke, account.admin_key, "ana@example.com").body["token"]
    mallory = signed_in_person("mallory@example.com")

    refused = accept(invoke, token, mallory)

    assert refused.status == 403 and refused.body["error"]["code"] == "invitation_email_mismatch"
    assert role_of(account.account_id, mallory.person_id) is None
    assert accept(invoke, token, signed_in_person("ana@example.com")).status == 201


def test_an_unverified_email_cannot_accept_an_invitation(invoke, new_account, signed_in_person):
    account = new_account()
    token = invite(invoke, account.admin_key, "ana@example.com").body["token"]
    ana = signed_in_person("ana@example.com")
    unverify(ana)

    answer = accept(invoke, token, ana)

    assert answer.status == 403 and answer.body["error"]["code"] == "email_not_verified"
    assert role_of(account.account_id, ana.person_id) is None


def unverify(person: Person) -> None:
    """The person's email as it is before its code is confirmed (or after it changed)."""
    import boto3

    from tests.support.environment import NAMES

    boto3.client("cognito-idp", region_name=NAMES.region).admin_update_user_attributes(
        UserPoolId=NAMES.refs["UserPool"],
        Username=person.email,
        UserAttributes=[{"Name": "email_verified", "Value": "false"}],
    )


def test_accepting_into_an_account_one_already_belongs_to_is_a_conflict(
    invoke, new_account, signed_in_member
):
    account = new_account()
    token = invite(invoke, account.admin_key, "ana@example.com", "admin").body["token"]
    ana = signed_in_member(account.account_id, "viewer", "ana@example.com")  # joined since

    answer = accept(invoke, token, ana)

    assert answer.status == 409 and answer.body["error"]["code"] == "already_member"
    assert role_of(account.account_id, ana.person_id) == "viewer"
    assert len(member_store.invitations_of(account.account_id)) == 1


def test_an_expired_invitation_cannot_be_accepted_nor_is_it_listed(
    invoke, new_account, signed_in_person
):
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

    ana = signed_in_person("ana@example.com")

    answer = accept(invoke, sent.token, ana)
    listed = invoke("MembersFunction", event("invitations_list", key=account.admin_key)).body

    assert answer.status == 404 and answer.body["error"]["code"] == "invitation_expired"
    assert role_of(account.account_id, ana.person_id) is None
    assert listed["data"] == []


def test_a_revoked_invitation_cannot_be_accepted(invoke, new_account, signed_in_person):
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
    answer = accept(invoke, sent["token"], signed_in_person("ana@example.com"))

    assert revoked.status == 200
    assert answer.status == 404 and answer.body["error"]["code"] == "invitation_not_found"
    assert "invitation.revoked" in [a for a, _, _ in audit_actions(account.account_id)]


def test_a_new_invitation_to_the_same_email_replaces_the_pending_one(
    invoke, new_account, signed_in_person
):
    account = new_account()
    first = invite(invoke, account.admin_key, "ana@example.com", "viewer").body
    second = invite(invoke, account.admin_key, "ANA@example.com", "developer").body

    listed = invoke("MembersFunction", event("invitations_list", key=account.admin_key)).body

    assert [i["id"] for i in listed["data"]] == [second["id"]]
    ana = signed_in_person("ana@example.com")
    assert accept(invoke, first["token"], ana).status == 404
    assert accept(invoke, second["token"], ana).body["role"] == "developer"


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
    invoke, new_account, signed_in_member
):
    a, b = new_account(), new_account()
    ana = signed_in_member(b.account_id, "viewer", "ana@example.com")
    token = invite(invoke, a.admin_key, "ana@example.com", "admin").body["token"]

    joined = accept(invoke, token, ana, account_id=b.account_id)

    assert joined.status == 201
    assert role_of(a.account_id, ana.person_id) == "admin"
    assert role_of(b.account_id, ana.person_id) == "viewer"


def test_an_admin_key_cannot_invite_an_owner(invoke, new_account):
    account = new_account()

    answer = invite(invoke, account.admin_key, "boss@example.com", "owner")

    assert answer.status == 403 and answer.body["error"]["code"] == "owner_required"
    assert member_store.invitations_of(account.account_id) == []


def test_an_owner_invites_an_owner_whose_invitation_an_admin_key_cannot_touch(
    invoke, new_account, signed_in_member, signed_in_person
):
    account = new_account()
    olga = signed_in_member(account.account_id, "owner")
    by_owner = invoke(
        "MembersFunction",
        as_person(
            event(
                "invitations_create", key=None, body={"email": "boss@example.com", "role": "owner"}
            ),
            olga,
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
    boss = signed_in_person("boss@example.com")
    joined = accept(invoke, by_owner.body["token"], boss)

    assert by_owner.status == 201
    assert replaced.status == 403 and revoked.status == 403
    assert joined.status == 201 and role_of(account.account_id, boss.person_id) == "owner"


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


def test_a_removed_members_next_request_is_refused(invoke, new_account, signed_in_member):
    account = new_account()
    dev = signed_in_member(account.account_id, "developer")
    listing = as_person(event("members_list", key=None), dev)
    assert invoke("MembersFunction", listing).status == 200

    remove(invoke, account.admin_key, dev.person_id)
    answer = invoke(
        "MembersFunction", as_person(event("members_list", key=None), dev, account.account_id)
    )

    assert answer.status == 403 and answer.body["error"]["code"] == "not_a_member"


def test_an_admin_member_cannot_promote_to_owner_nor_touch_an_owner(
    invoke, new_account, signed_in_member
):
    account = new_account()
    olga = signed_in_member(account.account_id, "owner")
    adam = signed_in_member(account.account_id, "admin")
    dev = signed_in_member(account.account_id, "developer")

    promoted = change(invoke, None, dev.person_id, "owner", caller=adam)
    self_promoted = change(invoke, None, adam.person_id, "owner", caller=adam)
    demoted = change(invoke, None, olga.person_id, "admin", caller=adam)
    removed = remove(invoke, None, olga.person_id, caller=adam)
    changed = change(invoke, None, dev.person_id, "viewer", caller=adam)

    assert [a.status for a in (promoted, self_promoted, demoted, removed)] == [403] * 4
    assert changed.status == 200
    assert role_of(account.account_id, olga.person_id) == "owner"
    assert role_of(account.account_id, dev.person_id) == "viewer"


def test_an_owner_makes_another_owner_and_then_may_step_down(invoke, new_account, signed_in_member):
    account = new_account()
    olga = signed_in_member(account.account_id, "owner")
    adam = signed_in_member(account.account_id, "admin")

    promoted = change(invoke, None, adam.person_id, "owner", caller=olga)
    stepped_down = change(invoke, None, olga.person_id, "admin", caller=olga)

    assert promoted.status == 200 and stepped_down.status == 200
    assert role_of(account.account_id, adam.person_id) == "owner"
    assert role_of(account.account_id, olga.person_id) == "admin"
    assert (
        "member.role_changed",
        f"person:{olga.person_id}",
        f"person:{adam.person_id}",
    ) in audit_actions(account.account_id)


def test_the_last_owner_can_neither_step_down_nor_leave(invoke, new_account, signed_in_member):
    account = new_account()
    olga = signed_in_member(account.account_id, "owner")

    demoted = change(invoke, None, olga.person_id, "admin", caller=olga)
    left = remove(invoke, None, olga.person_id, caller=olga)

    assert demoted.status == 409 and demoted.body["error"]["code"] == "last_owner"
    assert left.status == 409 and left.body["error"]["code"] == "last_owner"
    assert role_of(account.account_id, olga.person_id) == "owner"


def test_any_member_may_leave_but_removes_nobody_else(invoke, new_account, signed_in_member):
    account = new_account()
    vera = signed_in_member(account.account_id, "viewer")
    add_member(account.account_id, "dev-sub", "developer")

    removed_other = remove(invoke, None, "dev-sub", caller=vera)
    left = remove(invoke, None, vera.person_id, caller=vera)

    assert removed_other.status == 403
    assert left.status == 200
    assert role_of(account.account_id, vera.person_id) is None
    assert role_of(account.account_id, "dev-sub") == "developer"
    me = f"person:{vera.person_id}"
    assert ("member.removed", me, me) in audit_actions(account.account_id)


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


def transfer(invoke, request_key, person_id, caller: Person | None = None):
    request = event(
        "members_transfer_ownership", key=request_key, path_parameters={"person_id": person_id}
    )
    if caller is not None:
        as_person(request, caller)
    return invoke("MembersFunction", request)


def test_an_owner_hands_ownership_to_a_member_and_becomes_an_admin(
    invoke, new_account, signed_in_member
):
    account = new_account()
    olga = signed_in_member(account.account_id, "owner")
    add_member(account.account_id, "dev-sub", "developer")

    answer = transfer(invoke, None, "dev-sub", caller=olga)

    assert answer.status == 200 and answer.body["role"] == "owner"
    assert role_of(account.account_id, "dev-sub") == "owner"
    assert role_of(account.account_id, olga.person_id) == "admin"
    events = audit_actions(account.account_id)
    assert ("member.role_changed", f"person:{olga.person_id}", "person:dev-sub") in events
    me = f"person:{olga.person_id}"
    assert ("member.role_changed", me, me) in events


def test_only_a_signed_in_owner_transfers_ownership_and_to_another_member_of_the_account(
    invoke, new_account, signed_in_member
):
    account, other = new_account(), new_account()
    olga = signed_in_member(account.account_id, "owner")
    adam = signed_in_member(account.account_id, "admin")
    add_member(other.account_id, "bob-sub", "viewer")

    by_key = transfer(invoke, account.admin_key, adam.person_id)
    by_admin = transfer(invoke, None, adam.person_id, caller=adam)
    by_admin_to_owner = transfer(invoke, None, olga.person_id, caller=adam)
    to_self = transfer(invoke, None, olga.person_id, caller=olga)
    to_stranger = transfer(invoke, None, "bob-sub", caller=olga)

    assert [by_key.status, by_admin.status, by_admin_to_owner.status] == [403, 403, 403]
    assert to_self.status == 400
    assert to_stranger.status == 404
    assert role_of(account.account_id, olga.person_id) == "owner"
    assert role_of(account.account_id, adam.person_id) == "admin"
    assert role_of(other.account_id, "bob-sub") == "viewer"


# ------------------------------------------------------------------------------ a person


def test_a_person_lists_their_accounts_and_roles(invoke, new_account, signed_in_member):
    first, second, other = new_account(), new_account(), new_account()
    ana = signed_in_member(first.account_id, "owner")
    add_member(second.account_id, ana.person_id, "billing", ana.email)
    add_member(other.account_id, "bob-sub", "owner")

    answer = invoke("MembersFunction", as_person(event("me_accounts", key=None), ana))

    assert answer.status == 200
    assert {(a["id"], a["role"], a["name"]) for a in answer.body["data"]} == {
        (first.account_id, "owner", "Customer"),
        (second.account_id, "billing", "Customer"),
    }


def test_a_person_in_several_accounts_must_choose_one(invoke, new_account, signed_in_member):
    first, second = new_account(), new_account()
    ana = signed_in_member(first.account_id, "viewer")
    add_member(second.account_id, ana.person_id, "admin", ana.email)

    unchosen = invoke("MembersFunction", as_person(event("members_list", key=None), ana))
    chosen = invoke(
        "MembersFunction",
        as_person(event("members_list", key=None), ana, second.account_id),
    )

    assert unchosen.status == 400 and unchosen.body["error"]["code"] == "account_required"
    assert chosen.status == 200
    assert [m["id"] for m in chosen.body["data"]] == [ana.person_id]


def test_a_person_cannot_act_on_an_account_they_do_not_belong_to(
    invoke, new_account, signed_in_member
):
    mine, theirs = new_account(), new_account()
    ana = signed_in_member(mine.account_id, "owner")
    add_member(theirs.account_id, "bob-sub", "developer")

    answer = change(invoke, None, "bob-sub", "viewer", caller=ana, account_id=theirs.account_id)

    assert answer.status == 403 and answer.body["error"]["code"] == "not_a_member"
    assert role_of(theirs.account_id, "bob-sub") == "developer"
