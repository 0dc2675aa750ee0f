"""The operator creates customer accounts: POST /operator/accounts."""

from __future__ import annotations

from tests.integration.conftest import event
from tests.support.environment import OPERATOR_KEY
from tollgate.store import wallet


def test_operator_creates_an_account_with_an_empty_wallet_and_an_admin_key(invoke):
    # given the operator key
    # when the operator creates an account
    answer = invoke(
        "AccountFunction",
        event("account_create", key=OPERATOR_KEY, body={"email": "ada@example.com", "name": "Ada"}),
    )
    # then the account exists with its first admin key, shown this once
    assert answer.status == 201
    account, admin_key = answer.body["account"], answer.body["admin_key"]
    assert account["id"].startswith("acct_")
    assert account["email"] == "ada@example.com"
    assert admin_key["role"] == "admin"
    assert admin_key["secret"].startswith("tg-")
    assert answer.headers["x-request-id"]
    # and the wallet holds zero
    created = wallet.get_wallet(account["id"])
    assert (created.balance, created.held) == (0, 0)


def test_the_same_email_cannot_open_a_second_account(invoke):
    body = {"email": "Ada@Example.com", "name": "Ada"}
    invoke("AccountFunction", event("account_create", key=OPERATOR_KEY, body=body))

    again = {"email": "ada@example.com", "name": "Ada again"}
    answer = invoke("AccountFunction", event("account_create", key=OPERATOR_KEY, body=again))

    assert answer.status == 409
    assert answer.body["error"]["code"] == "email_taken"


def test_a_customer_admin_key_is_forbidden_on_operator_routes(invoke, new_account):
    customer = new_account()

    answer = invoke(
        "AccountFunction",
        event(
            "account_create", key=customer.admin_key, body={"email": "x@example.com", "name": "X"}
        ),
    )

    assert answer.status == 403
    assert answer.body["error"]["code"] == "operator_only"


def test_an_unknown_key_on_operator_routes_is_unauthenticated(invoke):
    answer = invoke(
        "AccountFunction",
        event("account_create", key="tg-op-wrong", body={"email": "x@example.com", "name": "X"}),
    )

    assert answer.status == 401
    assert answer.body["error"]["code"] == "invalid_api_key"


def test_account_fields_are_validated_by_name(invoke):
    cases = [
        ({"name": "No email"}, "email"),
        ({"email": "not-an-email", "name": "X"}, "email"),
        ({"email": "x@example.com"}, "name"),
        ({"email": "x@example.com", "name": "X", "plan": "gold"}, "plan"),
    ]
    for body, field in cases:
        answer = invoke("AccountFunction", event("account_create", key=OPERATOR_KEY, body=body))
        assert answer.status == 400, body
        assert answer.body["error"]["param"] == field


# ------------------------------------------------------------------------------ GET one account


def operator_reads(invoke, account_id: str, key: str = OPERATOR_KEY):
    path = {"account_id": account_id}
    return invoke("AccountFunction", event("account_get", key=key, path_parameters=path))


def test_the_operator_reads_an_account_with_its_flag_and_wallet(invoke, new_account):
    # given an account nothing happened to
    customer = new_account(email="grace@example.com")

    # when the operator reads it
    answer = operator_reads(invoke, customer.account_id)

    # then its profile, no flag, and the wallet as its owner sees it
    assert answer.status == 200, answer.body
    assert answer.body["id"] == customer.account_id
    assert answer.body["email"] == "grace@example.com"
    assert answer.body["status"] == "active"
    assert isinstance(answer.body["created_at"], int)
    assert answer.body["flagged"] is None
    assert answer.body["wallet"] == {
        "object": "wallet",
        "account_id": customer.account_id,
        "balance_usd": "0.00",
        "held_usd": "0.00",
        "disputed_usd": "0.00",
        "available_usd": "0.00",
        "currency": "usd",
    }


def test_an_unknown_account_is_not_found_for_the_operator(invoke):
    answer = operator_reads(invoke, "acct_000000000000000000000000")

    assert answer.status == 404
    assert answer.body["error"]["code"] == "account_not_found"


def test_an_admin_key_cannot_read_an_account_on_the_operator_route(invoke, new_account):
    customer = new_account()

    answer = operator_reads(invoke, customer.account_id, key=customer.admin_key)

    assert answer.status == 403
    assert answer.body["error"]["code"] == "operator_only"
