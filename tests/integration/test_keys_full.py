"""Keys in full over the management API: policy fields, reading, changing, rotation, filters."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.conftest import event
from tests.support.lean_dynamodb import a_usage
from tollgate import clock, keys, ledger
from tollgate.secret_keys import digest
from tollgate.store import keys as key_store
from tollgate.store.hotpath import Hold

POLICY = {
    "name": "search worker",
    "role": "inference",
    "environment": "staging",
    "allowed_models": ["openai/*"],
    "allowed_endpoints": ["chat.completions"],
    "allowed_cidrs": ["10.0.0.0/8"],
    "spend_cap": {"amount_usd": "25.00", "period": "month"},
    "rate_limit": {"rpm": 60, "tpm": 50000},
    "tags": {"team": "search"},
}


def create(invoke, admin_key, **body):
    return invoke("KeysFunction", event("keys_create", key=admin_key, body=body))


def key_event(name, admin_key, key_id, body=None):
    return event(name, key=admin_key, body=body, path_parameters={"key_id": key_id})


def test_a_key_is_created_with_its_whole_policy(invoke, new_account):
    account = new_account()

    answer = create(invoke, account.admin_key, **POLICY)

    assert answer.status == 201
    key = answer.body
    assert key["environment"] == "staging"
    assert key["allowed_models"] == ["openai/*"]
    assert key["spend_cap"]["amount_usd"] == "25.00"
    assert key["spend_cap"]["spent_usd"] == "0.00"
    assert key["rate_limit"] == {"rpm": 60, "tpm": 50000}
    assert key["tags"] == {"team": "search"}
    record = key_store.get_key(key["id"])
    assert record.allowed_endpoints == ["chat.completions"] and record.rpm == 60
    secret = key_store.find_secret(digest(key["secret"]))
    assert set(secret.attribute_values) == {"pk", "sk", "key_id", "account_id"}


def test_one_key_is_read_by_its_id(invoke, new_account):
    account = new_account()
    created = create(invoke, account.admin_key, name="ci").body

    answer = invoke("KeysFunction", key_event("keys_get", account.admin_key, created["id"]))

    assert answer.status == 200
    assert answer.body["id"] == created["id"] and "secret" not in answer.body


def test_a_change_reaches_the_record_the_proxy_reads_at_a_new_revision(
    invoke, hotpath, new_account
):
    account = new_account()
    created = create(invoke, account.admin_key, name="ci").body
    before = hotpath.find_key(digest(created["secret"]))

    answer = invoke(
        "KeysFunction",
        key_event("keys_update", account.admin_key, created["id"], {"rate_limit": {"rpm": 5}}),
    )

    assert answer.status == 200
    assert answer.body["rate_limit"] == {"rpm": 5, "tpm": None}
    after = hotpath.find_key(digest(created["secret"]))
    assert after.policy.rpm == 5 and after.revision == before.revision + 1


def test_an_empty_or_unknown_change_is_a_400(invoke, new_account):
    account = new_account()
    key_id = create(invoke, account.admin_key).body["id"]

    empty = invoke("KeysFunction", key_event("keys_update", account.admin_key, key_id, {}))
    unknown = invoke(
        "KeysFunction", key_event("keys_update", account.admin_key, key_id, {"role": "admin"})
    )

    assert empty.status == 400
    assert unknown.status == 400 and unknown.body["error"]["param"] == "role"


def test_rotation_with_grace_keeps_the_old_secret_working_until_it_ends(invoke, new_account):
    account = new_account()
    admin2 = create(invoke, account.admin_key, name="admin2", role="admin").body

    rotated = invoke(
        "KeysFunction",
        key_event("keys_rotate", account.admin_key, admin2["id"], {"grace_seconds": 3600}),
    )

    assert rotated.status == 200
    assert rotated.body["id"] == admin2["id"] and rotated.body["secret"] != admin2["secret"]
    for secret in (admin2["secret"], rotated.body["secret"]):
        assert invoke("KeysFunction", event("keys_list", key=secret, query={})).status == 200
    old = key_store.find_secret(digest(admin2["secret"]))
    assert old.grace_until <= clock.utcnow() + timedelta(hours=1)


def test_rotation_without_grace_stops_the_old_secret_at_once(invoke, new_account):
    account = new_account()
    admin2 = create(invoke, account.admin_key, name="admin2", role="admin").body

    rotated = invoke(
        "KeysFunction", key_event("keys_rotate", account.admin_key, admin2["id"], {})
    ).body

    old = invoke("KeysFunction", event("keys_list", key=admin2["secret"], query={}))
    new = invoke("KeysFunction", event("keys_list", key=rotated["secret"], query={}))
    assert old.status == 401 and old.body["error"]["code"] == "key_rotated"
    assert new.status == 200


def test_a_grace_period_longer_than_a_day_is_refused(invoke, new_account):
    account = new_account()
    key_id = create(invoke, account.admin_key).body["id"]

    answer = invoke(
        "KeysFunction",
        key_event("keys_rotate", account.admin_key, key_id, {"grace_seconds": 86_401}),
    )

    assert answer.status == 400 and answer.body["error"]["param"] == "grace_seconds"


def test_revoking_a_rotated_key_stops_both_of_its_secrets(invoke, new_account):
    account = new_account()
    admin2 = create(invoke, account.admin_key, name="admin2", role="admin").body
    rotated = invoke(
        "KeysFunction",
        key_event("keys_rotate", account.admin_key, admin2["id"], {"grace_seconds": 600}),
    ).body

    invoke("KeysFunction", key_event("keys_revoke", account.admin_key, admin2["id"]))

    for secret in (admin2["secret"], rotated["secret"]):
        answer = invoke("KeysFunction", event("keys_list", key=secret, query={}))
        assert answer.status == 401


def test_the_list_filters_by_role_environment_and_status(invoke, new_account):
    account = new_account()
    staging = create(invoke, account.admin_key, environment="staging").body["id"]
    prod = create(invoke, account.admin_key, environment="prod").body["id"]
    gone = create(invoke, account.admin_key, environment="prod").body["id"]
    invoke("KeysFunction", key_event("keys_revoke", account.admin_key, gone))

    def ids(**query):
        answer = invoke("KeysFunction", event("keys_list", key=account.admin_key, query=query))
        assert answer.status == 200, answer.body
        return {key["id"] for key in answer.body["data"]}

    assert ids(environment="prod", status="active") == {prod}
    assert ids(environment="staging") == {staging}
    assert gone in ids(status="revoked")
    assert ids(role="admin") == ids(role="admin", status="active")
    assert (
        invoke(
            "KeysFunction", event("keys_list", key=account.admin_key, query={"status": "odd"})
        ).status
        == 400
    )


def spend_through(hotpath, account_id: str, key_id: str, *, charge: int) -> None:
    """One request the proxy held and settled on the key, charged ``charge`` nano-USD."""
    ledger.credit(account_id, charge, kind="adjustment", reason="test credit")
    policy = keys.policy_of(key_store.get_key(key_id))
    now = clock.utcnow()
    hold = Hold(
        "req-spend", account_id, key_id, "openai/gpt-4o", charge, now, now + timedelta(minutes=6)
    )
    hotpath.hold(hold, policy)
    hotpath.settle(hold, a_usage(hold, charge), policy)


def test_a_capped_key_is_listed_read_and_changed_with_its_spend(invoke, hotpath, new_account):
    account = new_account()
    capped = create(
        invoke,
        account.admin_key,
        name="capped",
        spend_cap={"amount_usd": "5.00", "period": "month"},
    ).body
    spend_through(hotpath, account.account_id, capped["id"], charge=250_000_000)

    listed = invoke("KeysFunction", event("keys_list", key=account.admin_key, query={}))
    read = invoke("KeysFunction", key_event("keys_get", account.admin_key, capped["id"]))
    changed = invoke(
        "KeysFunction",
        key_event("keys_update", account.admin_key, capped["id"], {"name": "renamed"}),
    )

    assert listed.status == 200, listed.body
    shown = {key["id"]: key for key in listed.body["data"]}[capped["id"]]
    assert shown["spend_cap"]["spent_usd"] == "0.25"
    assert read.status == 200, read.body
    assert read.body["spend_cap"]["spent_usd"] == "0.25"
    assert changed.status == 200, changed.body
    assert changed.body["name"] == "renamed" and changed.body["spend_cap"]["amount_usd"] == "5.00"
