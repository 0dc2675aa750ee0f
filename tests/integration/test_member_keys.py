"""A person who leaves takes no working key with them: removing a member (or their leaving)
revokes the inference keys they created, each revocation audited; other keys stay."""

from __future__ import annotations

from tests.integration.conftest import as_person, event
from tollgate import audit


def create_key(invoke, request):
    answer = invoke("KeysFunction", request)
    assert answer.status == 201, answer.body
    return answer.body


def member_key(invoke, person, account_id, name):
    body = {"name": name, "role": "inference"}
    return create_key(
        invoke, as_person(event("keys_create", key=None, body=body), person, account_id)
    )


def status_of(invoke, account, key_id):
    request = event("keys_get", key=account.admin_key, path_parameters={"key_id": key_id})
    return invoke("KeysFunction", request).body["status"]


def remove(invoke, request):
    answer = invoke("MembersFunction", request)
    assert answer.status == 200, answer.body


def revocations(account_id):
    found, _ = audit.list_events(account_id, limit=100, cursor=None)
    return sorted((e.target, e.actor) for e in found if e.action == "key.revoked")


def test_removing_a_member_revokes_the_keys_they_created_and_no_other(
    invoke, new_account, signed_in_member
):
    # Given a developer who made two keys, another developer's key and the admin key's key
    account = new_account()
    leaving = signed_in_member(account.account_id, "developer")
    staying = signed_in_member(account.account_id, "developer")
    first = member_key(invoke, leaving, account.account_id, "laptop")
    second = member_key(invoke, leaving, account.account_id, "ci")
    theirs = member_key(invoke, staying, account.account_id, "theirs")
    body = {"name": "service", "role": "inference"}
    service = create_key(invoke, event("keys_create", key=account.admin_key, body=body))

    # when the admin key removes the first developer
    path = {"person_id": leaving.person_id}
    remove(invoke, event("members_remove", key=account.admin_key, path_parameters=path))

    # then both their keys are revoked, each audited, and the others still work
    assert status_of(invoke, account, first["id"]) == "revoked"
    assert status_of(invoke, account, second["id"]) == "revoked"
    assert status_of(invoke, account, theirs["id"]) == "active"
    assert status_of(invoke, account, service["id"]) == "active"
    admin_actor = {actor for _, actor in revocations(account.account_id)}
    assert [target for target, _ in revocations(account.account_id)] == sorted(
        [f"key:{first['id']}", f"key:{second['id']}"]
    )
    assert len(admin_actor) == 1 and not admin_actor.pop().startswith("person:")


def test_a_member_who_leaves_loses_their_keys(invoke, new_account, signed_in_member):
    account = new_account()
    developer = signed_in_member(account.account_id, "developer")
    made = member_key(invoke, developer, account.account_id, "laptop")

    path = {"person_id": developer.person_id}
    request = event("members_remove", key=None, path_parameters=path)
    remove(invoke, as_person(request, developer, account.account_id))

    assert status_of(invoke, account, made["id"]) == "revoked"
    assert revocations(account.account_id) == [
        (f"key:{made['id']}", f"person:{developer.person_id}")
    ]


def test_a_key_already_revoked_is_not_revoked_again(invoke, new_account, signed_in_member):
    account = new_account()
    developer = signed_in_member(account.account_id, "developer")
    made = member_key(invoke, developer, account.account_id, "old")
    revoke = event("keys_revoke", key=account.admin_key, path_parameters={"key_id": made["id"]})
    assert invoke("KeysFunction", revoke).status == 200

    path = {"person_id": developer.person_id}
    remove(invoke, event("members_remove", key=account.admin_key, path_parameters=path))

    # one revocation in the trail: the admin's, none by the removal
    assert len(revocations(account.account_id)) == 1
