"""An owner deletes the account: every key stops at once, an owner may change their mind for 30
days, then the daily purge leaves no name or email of the account's people anywhere while the
ledger still sums to the final balance."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from devstack.lambda_runtime import LambdaContext, load_handler
from tests.integration.conftest import PASSWORD, RECORDER, Person, as_person, event, log_in
from tests.integration.test_exports import deliver as deliver_exports
from tests.support import mail as mail_support
from tests.support.environment import NAMES, OPERATOR_KEY, TEMPLATE
from tests.support.iam import denied
from tollgate import audit, auth, billing, deletion, keys, ledger
from tollgate.errors import BadRequest, Conflict, InternalError, Unauthenticated
from tollgate.settings import get_settings
from tollgate.store import archives as archive_store
from tollgate.store import members as member_store
from tollgate.store.deletion import due
from tollgate.store.keys import get_account
from tollgate.store.models import TicketAttachment

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NAME = "Zyxwvut Analytics"
EMAIL = "alice.zyxwvut@example.com"
MEMBER = ("Bob Qwertzuiop", "bob.qwertzuiop@example.com")


@pytest.fixture
def doomed(invoke):
    """An account with people, keys, money moved, and an archived month."""
    created = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": EMAIL, "name": NAME}),
    )
    account_id = created.body["account"]["id"]
    admin_key = created.body["admin_key"]["secret"]
    for name, email, role in [("Alice Zyxwvut", EMAIL, "owner"), (*MEMBER, "billing")]:
        person = email.split("@")[0]
        member_store.member_item(
            account_id, person, email=email, name=name, role=role, joined_at=NOW
        ).save()
    keys.create_key(account_id, keys.NewKey(name="Alice Zyxwvut's laptop", role="inference"))
    ledger.credit(account_id, 5_000_000, kind="adjustment", reason="welcome credit", now=NOW)
    archive_month(account_id, "2026-07")
    return account_id, admin_key


def schedule(account_id: str, body: dict, *, now: datetime):
    return deletion.schedule_deletion(account_id, body, now=now, settings=get_settings())


def archive_month(account_id: str, month: str) -> None:
    objects = archive_store.archive_objects(get_settings())
    key = archive_store.batch_key(account_id, month)
    objects.put(key, b'{"request_id": "req_1"}\n', "application/gzip")
    objects.put(key, b'{"request_id": "req_2"}\n', "application/gzip")  # a second version
    archive_store.save_batch(
        account_id,
        month,
        object_key=key,
        manifest_key=archive_store.manifest_key(account_id, month),
        size_bytes=24,
        record_count=1,
        sha256="0" * 64,
        schema_version=1,
        created_at=NOW,
        expires_at=NOW + timedelta(days=730),
    )


def a_ticket_with_a_file(invoke, account_id: str, admin_key: str) -> str:
    """A closed ticket whose words and file name a person, and a file uploaded to it: the
    ticket's id."""
    opened = invoke(
        "TicketsFunction",
        event(
            "tickets_open",
            key=admin_key,
            body={"subject": "Zyxwvut's invoice", "category": "billing", "body": MEMBER[0]},
        ),
    )
    assert opened.status == 201, opened.body
    ticket_id = opened.body["id"]
    key = f"tickets/{account_id}/{ticket_id}/att_1"
    files = deletion.Holdings.of(get_settings()).ticket_files
    files.put(key, f"signed, {MEMBER[0]}".encode(), "text/plain")
    TicketAttachment(
        f"ACCOUNT#{account_id}",
        f"TICKETFILE#{ticket_id}#att_1",
        attachment_id="att_1",
        ticket_id=ticket_id,
        account_id=account_id,
        filename="Qwertzuiop.txt",
        content_type="text/plain",
        uploaded_by="key:x",
        author="customer",
        created_at=NOW,
    ).save()
    where = {"ticket_id": ticket_id}
    closed = invoke("TicketsFunction", event("tickets_close", key=admin_key, path_parameters=where))
    assert closed.status == 200, closed.body
    return ticket_id


def ticket_items(account_id: str, ticket_id: str) -> list[str]:
    """The sort keys of the account's ticket items, and the ticket's pointer."""
    table = boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("MetadataTable"))
    found = []
    for pk in (f"ACCOUNT#{account_id}", f"TICKET#{ticket_id}"):
        items = table.query(KeyConditionExpression=Key("pk").eq(pk))["Items"]
        found += [str(item["sk"]) for item in items if str(item["sk"]).startswith("TICKET")]
    return found


def purge(at: datetime) -> dict:
    """PurgeFunction as EventBridge calls it at ``at``; its AWS calls must be in its policy."""
    function = TEMPLATE.functions()["PurgeFunction"]
    scheduled = {"source": "aws.events", "time": at.isoformat().replace("+00:00", "Z")}
    with RECORDER.recording() as calls:
        result = load_handler(function)(
            scheduled, LambdaContext(function_name="PurgeFunction", region=NAMES.region)
        )
    assert not denied(calls, function.policies, NAMES), "PurgeFunction lacks IAM for these"
    return result


def every_stored_text() -> str:
    """Every item of every table, every version of every object in every bucket (inside a ZIP
    too), and every user of the user pool with all their attributes."""
    dynamodb = boto3.client("dynamodb", region_name=NAMES.region)
    texts = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            texts.append(json.dumps(page["Items"]))
    texts.extend(every_object_text())
    idp = boto3.client("cognito-idp", region_name=NAMES.region)
    for page in idp.get_paginator("list_users").paginate(UserPoolId=NAMES.refs["UserPool"]):
        texts.append(json.dumps(page["Users"], default=str))
    return "\n".join(texts)


def every_object_text() -> list[str]:
    s3 = boto3.client("s3", region_name=NAMES.region)
    texts = []
    for bucket in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", [])
        for version in versions:
            body = s3.get_object(
                Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            texts.append(version["Key"] + body.decode(errors="replace"))
            if zipfile.is_zipfile(io.BytesIO(body)):
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    texts.extend(archive.read(name).decode() for name in archive.namelist())
    return texts


def personal_data_in(text: str) -> list[str]:
    words = [NAME, EMAIL, *MEMBER, "Alice Zyxwvut", "Zyxwvut", "Qwertzuiop"]
    return [word for word in words if word.lower() in text.lower()]


def test_the_name_must_be_typed_back_exactly(doomed):
    account_id, admin_key = doomed

    with pytest.raises(BadRequest) as refused:
        schedule(account_id, {"confirm": NAME.lower()}, now=NOW)

    assert refused.value.code == "confirmation_mismatch"
    assert get_account(account_id).status == "active"
    assert auth.authenticate(
        {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
    )


def test_scheduling_revokes_every_key_at_once(doomed):
    account_id, admin_key = doomed

    account = schedule(account_id, {"confirm": NAME}, now=NOW)

    assert account.status == "deletion_scheduled"
    assert account.purge_after == NOW + timedelta(days=30)
    with pytest.raises(Unauthenticated) as refused:
        auth.authenticate(
            {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
        )
    assert refused.value.code == "key_revoked"
    listed, _ = keys.list_keys(account_id, status="active", now=NOW)
    assert listed == []


def test_asking_twice_changes_nothing_more(doomed):
    account_id, _ = doomed
    first = schedule(account_id, {"confirm": NAME}, now=NOW)

    again = schedule(account_id, {}, now=NOW + timedelta(days=1))

    assert again.purge_after == first.purge_after
    assert [marker.account_id for marker in due(NOW + timedelta(days=31))] == [account_id]


def test_an_owner_restores_the_account_within_30_days_and_the_keys_stay_revoked(doomed):
    account_id, admin_key = doomed
    schedule(account_id, {"confirm": NAME}, now=NOW)

    restored = deletion.restore(account_id, now=NOW + timedelta(days=29))

    assert restored.status == "active" and restored.purge_after is None
    assert due(NOW + timedelta(days=365)) == []
    with pytest.raises(Unauthenticated):
        auth.authenticate(
            {"authorization": f"Bearer {admin_key}"}, role="admin", settings=get_settings()
        )


def test_restoring_an_account_not_scheduled_or_past_its_grace_is_a_conflict(doomed):
    account_id, _ = doomed
    with pytest.raises(Conflict):
        deletion.restore(account_id, now=NOW)
    schedule(account_id, {"confirm": NAME}, now=NOW)

    with pytest.raises(Conflict) as refused:
        deletion.restore(account_id, now=NOW + timedelta(days=30, seconds=1))

    assert refused.value.code == "purged"


def test_the_purge_waits_for_the_grace_to_end(doomed):
    account_id, _ = doomed
    schedule(account_id, {"confirm": NAME}, now=NOW)

    assert purge(NOW + timedelta(days=29)) == {"purged": 0}

    assert get_account(account_id).name == NAME


def test_31_days_later_no_name_or_email_is_left_and_the_ledger_still_adds_up(
    doomed, invoke, capsys
):
    # given an account with a support ticket, whose deletion was scheduled
    account_id, admin_key = doomed
    ticket_id = a_ticket_with_a_file(invoke, account_id, admin_key)
    assert len(ticket_items(account_id, ticket_id)) == 5  # ticket, message, file, count, pointer
    balance = billing.get_wallet(account_id).balance
    schedule(account_id, {"confirm": NAME}, now=NOW)
    assert personal_data_in(every_stored_text())  # the scan sees them before

    # when the daily purge runs 31 days later
    assert purge(NOW + timedelta(days=31)) == {"purged": 1}

    # then no table, object or log line holds a name or email of its people
    assert personal_data_in(every_stored_text()) == []
    assert personal_data_in(capsys.readouterr().out) == []
    # and the account is left as the ledger's owner, its money where it was
    account = get_account(account_id)
    assert account.status == "deleted"
    assert member_store.members_of(account_id) == []
    assert archive_store.list_batches(account_id) == []
    assert ticket_items(account_id, ticket_id) == []
    assert billing.get_wallet(account_id).balance == balance == 5_000_000
    # (the conftest checks after every test that each ledger sums to its wallet)


def test_a_purge_that_stops_half_way_finishes_the_next_day(doomed, invoke, monkeypatch):
    account_id, admin_key = doomed
    ticket_id = a_ticket_with_a_file(invoke, account_id, admin_key)
    schedule(account_id, {"confirm": NAME}, now=NOW)
    with monkeypatch.context() as failing:
        failing.setattr(deletion.store, "scrub_account", Mock(side_effect=InternalError("down")))
        with pytest.raises(InternalError):
            purge(NOW + timedelta(days=31))
    assert ticket_items(account_id, ticket_id) == []  # gone before the failure

    assert purge(NOW + timedelta(days=32)) == {"purged": 1}

    assert personal_data_in(every_stored_text()) == []
    assert get_account(account_id).status == "deleted"


def test_a_second_run_finds_nothing_to_purge(doomed):
    account_id, _ = doomed
    schedule(account_id, {"confirm": NAME}, now=NOW)
    purge(NOW + timedelta(days=31))

    assert purge(NOW + timedelta(days=32)) == {"purged": 0}


def test_the_same_email_can_open_a_new_account_after_the_purge(doomed, invoke):
    account_id, _ = doomed
    schedule(account_id, {"confirm": NAME}, now=NOW)
    purge(NOW + timedelta(days=31))

    again = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": EMAIL, "name": NAME}),
    )

    assert again.status == 201


# ------------------------------------------------------------------ the routes, as a person


def delete_account(invoke, caller: Person | str, body: Any = None, account_id: str = ""):
    """DELETE /v1/account by a person's session (acting on ``account_id``) or a key."""
    body = {"confirm": NAME} if body is None else body
    if isinstance(caller, str):
        return invoke("AccountSelfFunction", event("account_delete", key=caller, body=body))
    request = as_person(event("account_delete", key=None, body=body), caller, account_id)
    return invoke("AccountSelfFunction", request)


def restore_account(invoke, caller: Person | str, account_id: str = ""):
    if isinstance(caller, str):
        return invoke("AccountSelfFunction", event("account_restore", key=caller))
    request = as_person(event("account_restore", key=None), caller, account_id)
    return invoke("AccountSelfFunction", request)


def audit_trail(account_id: str) -> list[tuple[str, str, str]]:
    found, _ = audit.list_events(account_id, limit=100, cursor=None)
    return [(e.action, e.actor, e.target) for e in found]


@pytest.fixture
def owned(doomed, signed_in_member):
    """The doomed account with a signed-in owner."""
    account_id, admin_key = doomed
    return account_id, admin_key, signed_in_member(account_id, "owner")


def test_an_owner_deletes_the_account_by_typing_its_name_and_the_owners_are_told(owned, invoke):
    # given an owner, a pending invitation and an admin key
    account_id, admin_key, owner = owned
    invited = invoke(
        "MembersFunction",
        event(
            "invitations_create",
            key=admin_key,
            body={"email": "dave@example.com", "role": "viewer"},
        ),
    )
    assert invited.status == 201

    # when the owner deletes the account with its name typed back
    answer = delete_account(invoke, owner, account_id=account_id)

    # then the purge is 30 days out, the keys and the invitation are gone, the owners mailed
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "deletion_scheduled"
    purge_after = datetime.fromtimestamp(answer.body["purge_after"], UTC)
    assert timedelta(days=29, hours=23) < purge_after - datetime.now(UTC) <= timedelta(days=30)
    assert member_store.invitations_of(account_id) == []
    accepted = invoke(
        "MembersFunction",
        event("invitations_accept", key=None, body={"token": invited.body["token"]}),
    )
    assert accepted.status in (401, 403)
    refused = invoke("KeysFunction", event("keys_list", key=admin_key))
    assert refused.status == 401 and refused.body["error"]["code"] == "key_revoked"
    (mail,) = [m for m in mail_support.queued() if m["kind"] == "deletion_scheduled"]
    assert mail["context"]["purge_on"] == purge_after.date().isoformat()
    assert mail["context"]["scheduled_by"] == owner.email
    assert mail["context"]["restore_url"].endswith("/account/restore")
    target = f"account:{account_id}"
    assert ("account.deletion_scheduled", f"person:{owner.person_id}", target) in audit_trail(
        account_id
    )


def test_a_name_not_typed_back_exactly_is_a_400_and_nothing_changes(owned, invoke):
    account_id, admin_key, owner = owned

    for body in ({}, {"confirm": NAME.upper()}, {"confirm": NAME, "now": "please"}, "[1]"):
        answer = delete_account(invoke, owner, body=body, account_id=account_id)
        assert answer.status == 400, (body, answer.body)

    assert get_account(account_id).status == "active"
    assert invoke("KeysFunction", event("keys_list", key=admin_key)).status == 200


def test_an_admin_key_or_an_admin_member_cannot_delete_the_account(owned, invoke, signed_in_member):
    account_id, admin_key, _ = owned
    admin = signed_in_member(account_id, "admin")

    by_key = delete_account(invoke, admin_key)
    by_admin = delete_account(invoke, admin, account_id=account_id)

    assert by_key.status == 403 and by_key.body["error"]["code"] == "owner_required"
    assert by_admin.status == 403 and by_admin.body["error"]["code"] == "permission_denied"
    assert get_account(account_id).status == "active"


def test_an_owner_of_another_account_cannot_delete_this_one(owned, invoke, sign_up):
    account_id, _, _ = owned
    stranger = sign_up()

    answer = delete_account(invoke, stranger, account_id=account_id)

    assert answer.status == 403 and answer.body["error"]["code"] == "not_a_member"
    assert get_account(account_id).status == "active"


def test_a_suspended_account_cannot_be_deleted_until_reinstated(owned, invoke):
    account_id, _, owner = owned
    suspended = invoke(
        "AccountFunction",
        event(
            "account_suspend",
            key=OPERATOR_KEY,
            body={"reason": "Chargebacks under review"},
            path_parameters={"account_id": account_id},
        ),
    )
    assert suspended.status == 200, suspended.body

    answer = delete_account(invoke, owner, account_id=account_id)

    assert answer.status == 403 and answer.body["error"]["code"] == "account_suspended"
    assert "reinstated" in answer.body["error"]["message"]
    assert get_account(account_id).status == "suspended"


def test_while_scheduled_the_account_only_reads_and_an_owner_restores_it(owned, invoke):
    # given an account scheduled for deletion
    account_id, _, owner = owned
    assert delete_account(invoke, owner, account_id=account_id).status == 202

    # when its owner tries to make a key, then restores it
    new_key = as_person(
        event("keys_create", key=None, body={"name": "after", "role": "inference"}),
        owner,
        account_id,
    )
    made = invoke("KeysFunction", new_key)
    listed = invoke("KeysFunction", as_person(event("keys_list", key=None), owner, account_id))
    restored = restore_account(invoke, owner, account_id)

    # then no key was made while it waited, reads worked, and it is active again (audited)
    assert made.status == 409 and made.body["error"]["code"] == "deletion_scheduled"
    assert listed.status == 200
    assert restored.status == 200, restored.body
    assert restored.body == {
        "id": account_id,
        "object": "account",
        "status": "active",
        "purge_after": None,
    }
    assert ("account.restored", f"person:{owner.person_id}", f"account:{account_id}") in (
        audit_trail(account_id)
    )
    assert [m["kind"] for m in mail_support.queued()] == ["deletion_scheduled"]  # no kind for it
    assert invoke("KeysFunction", new_key).status == 201


def test_restoring_an_active_account_is_a_409_and_an_admin_member_cannot_restore(
    owned, invoke, signed_in_member
):
    account_id, admin_key, owner = owned
    admin = signed_in_member(account_id, "admin")

    not_scheduled = restore_account(invoke, owner, account_id)
    assert delete_account(invoke, owner, account_id=account_id).status == 202
    by_admin = restore_account(invoke, admin, account_id)
    by_revoked_key = restore_account(invoke, admin_key)

    assert not_scheduled.status == 409
    assert not_scheduled.body["error"]["code"] == "deletion_not_scheduled"
    assert by_admin.status == 403 and by_admin.body["error"]["code"] == "permission_denied"
    assert by_revoked_key.status == 401
    assert get_account(account_id).status == "deletion_scheduled"


# ------------------------------------------------------------ the whole story, whole stack

OWNER_NAME = "Alice Zyxwvut"
INVITEE = ("Bob Qwertzuiop", "bob.qwertzuiop@example.com")  # a login only for this account
PENDING = "dave.asdfghjkl@example.com"  # invited, never accepted
COLLEAGUE = "carol.elsewhere@example.com"  # a member here, and the owner of her own account


def invite_and_accept(invoke, owner: Person, account_id: str, person: Person, name: str, role):
    invited = invoke(
        "MembersFunction",
        as_person(
            event("invitations_create", key=None, body={"email": person.email, "role": role}),
            owner,
            account_id,
        ),
    )
    assert invited.status == 201, invited.body
    body = {"token": invited.body["token"], "name": name}
    accepted = invoke(
        "MembersFunction", as_person(event("invitations_accept", key=None, body=body), person)
    )
    assert accepted.status == 201, accepted.body


def pool_user(email: str, password: str = PASSWORD) -> None:
    """A login made by the operator (the pool's admin API), for a person with no account of
    their own yet: how a person joins an invite-only deployment."""
    idp = boto3.client("cognito-idp", region_name=NAMES.region)
    pool = NAMES.refs["UserPool"]
    verified = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    idp.admin_create_user(
        UserPoolId=pool, Username=email, UserAttributes=verified, MessageAction="SUPPRESS"
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)


def signed_in(invoke, email: str) -> Person:
    session = log_in(invoke, email, PASSWORD)
    person_id = session_person(session["access_token"])
    return Person(email, PASSWORD, person_id, "", session["access_token"], "")


def session_person(access_token: str) -> str:
    idp = boto3.client("cognito-idp", region_name=NAMES.region)
    user = idp.get_user(AccessToken=access_token)
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def test_a_signed_up_account_with_members_exports_and_money_leaves_no_person_behind(
    invoke, sign_up, capsys
):
    # given an account signed up by its owner, a member who joined by invitation with a login
    # of their own, a member who owns another account, a pending invitation, keys, money, an
    # archived month and an export of it all
    owner = sign_up(email=EMAIL, name=OWNER_NAME, company=NAME)
    account_id = owner.account_id
    pool_user(INVITEE[1])
    invite_and_accept(
        invoke, owner, account_id, signed_in(invoke, INVITEE[1]), INVITEE[0], "billing"
    )
    colleague = sign_up(email=COLLEAGUE, name="Carol Elsewhere")
    invite_and_accept(invoke, owner, account_id, colleague, "Carol Elsewhere", "developer")
    pending = {"email": PENDING, "role": "viewer"}
    invoke(
        "MembersFunction",
        as_person(event("invitations_create", key=None, body=pending), owner, account_id),
    )
    made = invoke(
        "KeysFunction",
        as_person(
            event(
                "keys_create", key=None, body={"name": f"{OWNER_NAME}'s laptop", "role": "admin"}
            ),
            owner,
            account_id,
        ),
    )
    assert made.status == 201, made.body
    ledger.credit(account_id, 5_000_000, kind="adjustment", reason="welcome credit", now=NOW)
    archive_month(account_id, "2026-07")
    export = invoke(
        "AccountSelfFunction",
        as_person(event("account_export_create", key=None), owner, account_id),
    )
    assert export.status == 202, export.body
    assert deliver_exports() == ["ready"]
    balance = billing.get_wallet(account_id).balance
    words = [NAME, EMAIL, OWNER_NAME, *INVITEE, PENDING, "Zyxwvut", "Qwertzuiop", "asdfghjkl"]
    before = every_stored_text()
    assert [w for w in words if w.lower() in before.lower()] == words  # the scan sees them all

    # when the owner deletes it and the daily purge runs 31 days later
    assert (
        invoke(
            "AccountSelfFunction",
            as_person(event("account_delete", key=None, body={"confirm": NAME}), owner, account_id),
        ).status
        == 202
    )
    assert purge(datetime.now(UTC) + timedelta(days=31)) == {"purged": 1}

    # then no table, object, login or log line holds a name or email of its people
    left = every_stored_text() + capsys.readouterr().out
    assert [w for w in words if w.lower() in left.lower()] == []
    # the colleague keeps her login and her own account; the account's money is where it was
    assert member_store.accounts_of(colleague.person_id) == [colleague.account_id]
    assert log_in(invoke, COLLEAGUE, PASSWORD)["access_token"]
    assert get_account(account_id).status == "deleted"
    assert billing.get_wallet(account_id).balance == balance == 5_000_000
    assert audit.verify_chain(account_id).ok  # the trail, never rewritten, names only ids
    # and the operator's list finds it as deleted, and by its old email not at all
    deleted = operator_list(invoke, {"status": "deleted"})
    assert [a["id"] for a in deleted["data"]] == [account_id]
    assert operator_list(invoke, {"q": EMAIL})["data"] == []


def operator_list(invoke, query: dict[str, str]) -> dict:
    answer = invoke("AccountFunction", event("accounts_list", key=OPERATOR_KEY, query=query))
    assert answer.status == 200, answer.body
    return answer.body
