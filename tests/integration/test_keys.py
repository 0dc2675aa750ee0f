"""An account admin manages the account's keys: POST, GET /v1/keys and DELETE /v1/keys/{id}."""

from __future__ import annotations

import hashlib

from tests.integration.conftest import event
from tollgate.settings import get_settings
from tollgate.store import keys as key_store


def create(invoke, admin_key, **body):
    return invoke("KeysFunction", event("keys_create", key=admin_key, body=body))


def test_an_admin_creates_an_inference_key_and_sees_its_secret_once(invoke, new_account):
    account = new_account()

    answer = create(invoke, account.admin_key, name="staging worker", role="inference")

    assert answer.status == 201
    key = answer.body
    assert key["id"].startswith("key_")
    assert key["role"] == "inference"
    assert key["secret"].startswith("tg-") and len(key["secret"]) >= 3 + 43
    assert key["prefix"] == key["secret"][:7]
    assert key["last_four"] == key["secret"][-4:]


def test_only_the_digest_of_a_secret_is_stored(invoke, new_account):
    account = new_account()
    secret = create(invoke, account.admin_key, name="ci").body["secret"]

    record = key_store.get_key(create(invoke, account.admin_key).body["id"])
    stored = key_store.find_secret(hashlib.sha256(secret.encode()).hexdigest())

    assert stored is not None
    assert secret not in str(record.attribute_values)
    assert secret not in str(stored.attribute_values)


def test_the_list_shows_keys_without_secrets(invoke, new_account):
    account = new_account()
    created = create(invoke, account.admin_key, name="ci").body

    answer = invoke("KeysFunction", event("keys_list", key=account.admin_key, query={}))

    assert answer.status == 200
    listed = {key["id"]: key for key in answer.body["data"]}
    assert set(listed) >= {created["id"]}
    assert all("secret" not in key for key in listed.values())
    assert created["secret"] not in str(answer.body)
    assert (
        listed[created["id"]]["redacted_value"] == f"{created['prefix']}...{created['last_four']}"
    )


def test_the_list_shows_only_the_callers_account(invoke, new_account):
    first, second = new_account(), new_account()
    mine = create(invoke, first.admin_key, name="mine").body["id"]
    theirs = create(invoke, second.admin_key, name="theirs").body["id"]

    listed = invoke("KeysFunction", event("keys_list", key=first.admin_key, query={})).body

    ids = {key["id"] for key in listed["data"]}
    assert mine in ids and theirs not in ids


def test_the_list_pages_with_a_cursor(invoke, new_account):
    account = new_account()
    created = {create(invoke, account.admin_key, name=f"k{i}").body["id"] for i in range(4)}

    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = invoke("KeysFunction", event("keys_list", key=account.admin_key, query=query)).body
        seen += [key["id"] for key in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break

    assert len(seen) == len(set(seen)) == 5  # four new keys and the admin key
    assert created <= set(seen)


def test_a_cursor_from_another_account_is_refused(invoke, new_account):
    first, second = new_account(), new_account()
    for _ in range(2):
        create(invoke, first.admin_key)
    page = invoke("KeysFunction", event("keys_list", key=first.admin_key, query={"limit": "1"}))

    query = {"cursor": page.body["next_cursor"]}
    answer = invoke("KeysFunction", event("keys_list", key=second.admin_key, query=query))

    assert answer.status == 400
    assert answer.body["error"]["param"] == "cursor"


def test_a_revoked_key_is_refused_at_once(invoke, new_account):
    account = new_account()
    admin2 = create(invoke, account.admin_key, name="second admin", role="admin").body

    revoke = event("keys_revoke", key=account.admin_key, path_parameters={"key_id": admin2["id"]})
    answer = invoke("KeysFunction", revoke)
    then = invoke("KeysFunction", event("keys_list", key=admin2["secret"], query={}))

    assert answer.status == 200
    assert answer.body["status"] == "revoked"
    assert then.status == 401
    assert then.body["error"]["code"] == "key_revoked"


def test_revoking_twice_changes_nothing(invoke, new_account):
    account = new_account()
    key_id = create(invoke, account.admin_key).body["id"]
    revoke = event("keys_revoke", key=account.admin_key, path_parameters={"key_id": key_id})

    first = invoke("KeysFunction", revoke)
    second = invoke("KeysFunction", revoke)

    assert first.status == second.status == 200
    assert first.body["revoked_at"] == second.body["revoked_at"]


def test_another_accounts_key_cannot_be_revoked(invoke, new_account):
    first, second = new_account(), new_account()
    theirs = create(invoke, second.admin_key).body["id"]

    revoke = event("keys_revoke", key=first.admin_key, path_parameters={"key_id": theirs})
    answer = invoke("KeysFunction", revoke)

    assert answer.status == 404
    assert key_store.get_key(theirs).status == "active"


def test_an_inference_key_is_forbidden_on_admin_routes(invoke, new_account):
    account = new_account()
    inference = create(invoke, account.admin_key, role="inference").body["secret"]

    answer = invoke("KeysFunction", event("keys_list", key=inference, query={}))

    assert answer.status == 403
    assert answer.body["error"]["code"] == "admin_key_required"


def test_a_missing_key_is_unauthenticated(invoke):
    answer = invoke("KeysFunction", event("keys_list", key=None, query={}))

    assert answer.status == 401
    assert answer.body["error"]["code"] == "missing_api_key"


def test_a_model_no_id_can_match_is_refused_and_an_alias_kept_as_its_id(invoke, new_account):
    # given an account's admin
    account = new_account()

    # when it asks for a key allowed a bare name that is no model id, then for one that
    # names a model by its alias
    typo = create(invoke, account.admin_key, name="typo", allowed_models=["gpt-4o-mini-x"])
    alias = create(invoke, account.admin_key, name="alias", allowed_models=["gpt-4o-mini"])

    # then the first is refused, naming the field, and the second shows the public id
    assert typo.status == 400 and typo.body["error"]["param"] == "allowed_models"
    assert alias.status == 201 and alias.body["allowed_models"] == ["openai/gpt-4o-mini"]
    listed = invoke("KeysFunction", event("keys_list", key=account.admin_key, query={}))
    assert "typo" not in {key["name"] for key in listed.body["data"]}


def test_a_malformed_body_is_a_clear_400(invoke, new_account):
    account = new_account()

    answer = invoke("KeysFunction", event("keys_create", key=account.admin_key, body='{"name": '))

    assert answer.status == 400
    assert answer.body["error"]["code"] == "invalid_json"
    assert answer.body["error"]["request_id"]


def test_key_fields_are_validated_by_name(invoke, new_account):
    account = new_account()
    cases = [
        ({"role": "superuser"}, "role"),
        ({"name": 42}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scopes": ["all"]}, "scopes"),
    ]
    for body, field in cases:
        answer = create(invoke, account.admin_key, **body)
        assert answer.status == 400, body
        assert answer.body["error"]["param"] == field


def test_the_management_api_answers_cross_origin_requests_from_the_console_only(
    invoke, new_account
):
    account = new_account()
    console = get_settings().console_origin

    def keys_list(origin: str) -> dict[str, str]:
        request = event("keys_list", key=account.admin_key)
        request["headers"]["Origin"] = origin
        request["multiValueHeaders"]["Origin"] = [origin]
        answer = invoke("KeysFunction", request)
        assert answer.status == 200
        return answer.headers

    from_console = keys_list(console)
    from_elsewhere = keys_list("https://evil.example.net")

    assert from_console["access-control-allow-origin"] == console
    assert "access-control-allow-credentials" not in from_console
    assert not any(name.startswith("access-control-") for name in from_elsewhere)
