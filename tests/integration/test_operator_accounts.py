"""The operator's controls over accounts: suspend and reinstate with a reason (audited), a
suspended account's management routes read-only, and the account list with its search."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import event
from tests.support.environment import OPERATOR_KEY
from tollgate import keys, ledger
from tollgate.store import accounts as account_store
from tollgate.store import keys as key_store
from tollgate.store.layout import account_pk
from tollgate.store.models import Account


def suspend(invoke, account_id: str, reason: Any = "Chargebacks under review", key=OPERATOR_KEY):
    body = {} if reason is None else {"reason": reason}
    request = event(
        "account_suspend", key=key, body=body, path_parameters={"account_id": account_id}
    )
    return invoke("AccountFunction", request)


def reinstate(invoke, account_id: str, reason: str = "Review closed", key=OPERATOR_KEY):
    request = event(
        "account_reinstate",
        key=key,
        body={"reason": reason},
        path_parameters={"account_id": account_id},
    )
    return invoke("AccountFunction", request)


def list_accounts(invoke, key=OPERATOR_KEY, **query: str):
    return invoke("AccountFunction", event("accounts_list", key=key, query=query))


def audit_events(invoke, admin_key: str) -> list[dict[str, Any]]:
    answer = invoke("AuditFunction", event("audit_list", key=admin_key))
    assert answer.status == 200, answer.body
    return answer.body["data"]


# ------------------------------------------------------------------ suspend and reinstate


def test_the_operator_suspends_an_account_with_a_reason_and_it_is_audited(invoke, new_account):
    # given an active account
    customer = new_account()

    # when the operator suspends it, saying why
    answer = suspend(invoke, customer.account_id, "Chargebacks under review")

    # then it is suspended, with the reason and the time, and the audit trail says so
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "suspended"
    assert answer.body["status_reason"] == "Chargebacks under review"
    assert isinstance(answer.body["status_changed_at"], int)
    stored = key_store.get_account(customer.account_id)
    assert stored is not None and stored.status == "suspended"
    (suspended,) = [
        e for e in audit_events(invoke, customer.admin_key) if "suspended" in e["action"]
    ]
    assert suspended["action"] == "account.suspended"
    assert suspended["actor"] == "operator"
    assert suspended["changes"]["status"] == {"before": "active", "after": "suspended"}
    assert suspended["changes"]["status_reason"]["after"] == "Chargebacks under review"


def test_the_operator_reinstates_a_suspended_account_and_it_is_audited(invoke, new_account):
    customer = new_account()
    suspend(invoke, customer.account_id)

    answer = reinstate(invoke, customer.account_id, "Review closed")

    assert answer.status == 200, answer.body
    assert (answer.body["status"], answer.body["status_reason"]) == ("active", "Review closed")
    actions = [e["action"] for e in audit_events(invoke, customer.admin_key)]
    assert "account.reinstated" in actions


@pytest.mark.parametrize("reason", [None, "", "   ", 42, "x" * 1001])
def test_a_suspension_needs_a_reason(invoke, new_account, reason):
    customer = new_account()

    answer = suspend(invoke, customer.account_id, reason)

    assert answer.status == 400
    assert answer.body["error"]["param"] == "reason"
    assert key_store.get_account(customer.account_id).status == "active"  # type: ignore[union-attr]


def test_suspending_twice_or_reinstating_an_active_account_is_a_conflict(invoke, new_account):
    customer = new_account()

    not_suspended = reinstate(invoke, customer.account_id)
    suspend(invoke, customer.account_id)
    twice = suspend(invoke, customer.account_id)

    assert (not_suspended.status, not_suspended.body["error"]["code"]) == (
        409,
        "account_not_suspended",
    )
    assert (twice.status, twice.body["error"]["code"]) == (409, "account_already_suspended")


def test_an_account_scheduled_for_deletion_cannot_be_suspended_or_reinstated(invoke, new_account):
    customer = new_account()
    Account(account_pk(customer.account_id), "PROFILE").update(
        actions=[Account.status.set("deletion_scheduled")]
    )

    suspended = suspend(invoke, customer.account_id)
    reinstated = reinstate(invoke, customer.account_id)

    assert (suspended.status, suspended.body["error"]["code"]) == (409, "account_not_active")
    assert (reinstated.status, reinstated.body["error"]["code"]) == (409, "account_not_suspended")


def test_an_unknown_account_cannot_be_suspended_or_reinstated(invoke, aws):
    for answer in (suspend(invoke, "acct_nobody"), reinstate(invoke, "acct_nobody")):
        assert answer.status == 404
        assert answer.body["error"]["code"] == "account_not_found"


def test_an_admin_key_cannot_suspend_reinstate_or_list_accounts(invoke, new_account):
    # given a customer's admin key, even for its own account
    customer = new_account()

    answers = [
        suspend(invoke, customer.account_id, key=customer.admin_key),
        reinstate(invoke, customer.account_id, key=customer.admin_key),
        list_accounts(invoke, key=customer.admin_key),
    ]

    assert [a.status for a in answers] == [403, 403, 403]
    assert {a.body["error"]["code"] for a in answers} == {"operator_only"}
    assert key_store.get_account(customer.account_id).status == "active"  # type: ignore[union-attr]


# ------------------------------------------------------------ read-only management routes


def admin_call(invoke, name: str, function: str, key: str, **options: Any):
    return invoke(function, event(name, key=key, **options))


def test_a_suspended_accounts_management_routes_only_read(invoke, new_account):
    # given a suspended account with an inference key
    customer = new_account()
    key = keys.create_key(customer.account_id, keys.NewKey(name="ci", role="inference")).key
    suspend(invoke, customer.account_id)
    on_key = {"key_id": key.key_id}

    # when its admin key tries to change anything
    writes = [
        admin_call(invoke, "keys_create", "KeysFunction", customer.admin_key),
        admin_call(
            invoke,
            "keys_update",
            "KeysFunction",
            customer.admin_key,
            path_parameters=on_key,
            body={"name": "renamed"},
        ),
        admin_call(
            invoke, "keys_revoke", "KeysFunction", customer.admin_key, path_parameters=on_key
        ),
        admin_call(
            invoke, "keys_rotate", "KeysFunction", customer.admin_key, path_parameters=on_key
        ),
        admin_call(invoke, "wallet_checkout", "BillingFunction", customer.admin_key),
    ]
    # and reads its wallet, keys, usage and audit trail
    reads = [
        admin_call(invoke, "wallet_get", "BillingFunction", customer.admin_key),
        admin_call(invoke, "keys_list", "KeysFunction", customer.admin_key),
        admin_call(invoke, "usage_list", "UsageFunction", customer.admin_key),
        admin_call(invoke, "audit_list", "AuditFunction", customer.admin_key),
    ]

    # then every write is a 403 account_suspended in the management format, nothing changed,
    # and every read is answered
    assert [w.status for w in writes] == [403] * 5, [w.body for w in writes]
    assert {w.body["error"]["code"] for w in writes} == {"account_suspended"}
    assert all(w.body["error"]["type"] == "permission_error" for w in writes)
    unchanged = key_store.get_key(key.key_id)
    assert unchanged is not None
    assert (unchanged.name, unchanged.status, unchanged.revision) == ("ci", "active", 0)
    assert [r.status for r in reads] == [200] * 4, [r.body for r in reads]


def test_a_reinstated_account_can_change_its_settings_again(invoke, new_account):
    customer = new_account()
    assert suspend(invoke, customer.account_id).status == 200
    assert reinstate(invoke, customer.account_id).status == 200

    answer = admin_call(invoke, "keys_create", "KeysFunction", customer.admin_key)

    assert answer.status == 201, answer.body


def test_another_accounts_suspension_does_not_touch_this_one(invoke, new_account):
    mine, theirs = new_account(), new_account()
    assert suspend(invoke, theirs.account_id).status == 200

    answer = admin_call(invoke, "keys_create", "KeysFunction", mine.admin_key)

    assert answer.status == 201, answer.body


# ------------------------------------------------------------------------- the account list


def test_the_list_shows_each_account_with_balance_status_flag_and_last_activity(
    invoke, new_account
):
    # given two accounts, the newer one credited, flagged and suspended
    older, newer = new_account("older@example.com"), new_account("newer@example.com")
    ledger.credit(newer.account_id, 2_500_000_000, kind="adjustment", reason="test credit")
    Account(account_pk(newer.account_id), "PROFILE").update(
        actions=[Account.flagged.set("dispute dp_1")]
    )
    suspend(invoke, newer.account_id)

    # when the operator lists accounts
    answer = list_accounts(invoke)

    # then both are there, newest first, each as the operator's view of it
    assert answer.status == 200, answer.body
    assert answer.body["object"] == "list" and answer.body["has_more"] is False
    first, second = answer.body["data"]
    assert (first["id"], second["id"]) == (newer.account_id, older.account_id)
    assert first["wallet"]["balance_usd"] == "2.50"
    assert (first["status"], first["flagged"]) == ("suspended", "dispute dp_1")
    assert (second["status"], second["flagged"]) == ("active", None)
    assert first["email"] == "newer@example.com" and isinstance(first["created_at"], int)
    # last activity: the wallet's last change (the credit), not the account's creation
    assert first["last_activity_at"] >= second["last_activity_at"]
    assert isinstance(second["last_activity_at"], int)


def test_the_search_matches_part_of_an_email_name_or_id_whatever_the_case(invoke, new_account):
    ada, bob = new_account("Ada.Lovelace@Engines.example"), new_account("bob@example.com")

    def found(**query: str) -> list[str]:
        answer = list_accounts(invoke, **query)
        assert answer.status == 200, answer.body
        return [account["id"] for account in answer.body["data"]]

    assert found(q="lovelace@engines") == [ada.account_id]
    assert found(q="BOB") == [bob.account_id]
    assert found(q=ada.account_id[-8:].upper()) == [ada.account_id]
    assert set(found(q="Custom")) == {ada.account_id, bob.account_id}  # both named Customer
    assert found(q="nobody") == []


def test_the_search_matches_names_and_filters_by_status_and_flag(invoke, new_account):
    plain, flagged, suspended = new_account(), new_account(), new_account()
    Account(account_pk(flagged.account_id), "PROFILE").update(
        actions=[Account.flagged.set("dispute dp_2")]
    )
    suspend(invoke, suspended.account_id)

    def found(**query: str) -> set[str]:
        answer = list_accounts(invoke, **query)
        assert answer.status == 200, answer.body
        return {account["id"] for account in answer.body["data"]}

    assert found(status="suspended") == {suspended.account_id}
    assert found(status="active") == {plain.account_id, flagged.account_id}
    assert found(flagged="true") == {flagged.account_id}
    assert found(flagged="false") == {plain.account_id, suspended.account_id}
    assert found(status="active", flagged="false") == {plain.account_id}


def test_the_list_pages_with_a_cursor_and_never_repeats_an_account(invoke, new_account):
    created = {new_account().account_id for _ in range(5)}

    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        answer = list_accounts(invoke, **query)
        assert answer.status == 200, answer.body
        assert len(answer.body["data"]) <= 2
        seen += [account["id"] for account in answer.body["data"]]
        if not answer.body["has_more"]:
            break
        query["cursor"] = answer.body["next_cursor"]

    assert sorted(seen) == sorted(created)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"status": "closed"}, "status"),
        ({"flagged": "yes"}, "flagged"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"q": "x" * 255}, "q"),
    ],
)
def test_bad_list_parameters_are_named_in_a_400(invoke, aws, query, param):
    answer = list_accounts(invoke, **query)

    assert answer.status == 400
    assert answer.body["error"]["param"] == param


def test_a_cursor_from_another_listing_is_refused(invoke, new_account):
    customer = new_account()
    for n in range(3):
        keys.create_key(customer.account_id, keys.NewKey(name=f"k{n}", role="inference"))
    keys_page = admin_call(
        invoke, "keys_list", "KeysFunction", customer.admin_key, query={"limit": "1"}
    )
    assert keys_page.body["next_cursor"]

    answer = list_accounts(invoke, cursor=keys_page.body["next_cursor"])

    assert answer.status == 400
    assert answer.body["error"]["param"] == "cursor"


def test_accounts_made_before_the_list_existed_are_listed_once_indexed(invoke, new_account):
    # given an account whose profile was written without the list's index keys
    old = new_account()
    Account(account_pk(old.account_id), "PROFILE").update(
        actions=[Account.gsi1pk.remove(), Account.gsi1sk.remove()]
    )
    assert list_accounts(invoke).body["data"] == []

    # when the operator indexes the unlisted accounts (twice: the second finds none)
    indexed = [account_store.index_unlisted_accounts() for _ in range(2)]

    # then it is listed
    assert indexed == [1, 0]
    assert [a["id"] for a in list_accounts(invoke).body["data"]] == [old.account_id]
