"""People sign up with a verified email, log in, use their session on management routes, log
out and reset their password (AuthFunction against moto's Cognito, DynamoDB and SES)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import boto3
import pytest

from tests.integration.conftest import PASSWORD, as_person, event, log_in
from tests.support.environment import NAMES
from tollgate import clock, permissions
from tollgate.identity import flows, login_limits
from tollgate.settings import get_settings
from tollgate.store import members
from tollgate.store.models import Account, Wallet


def auth(invoke, route: str, body=None, *, key=None):
    return invoke("AuthFunction", event(f"auth_{route}", key=key, body=body))


def sign_up_body(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password, "name": "Ada Lovelace", "company": "Engines"}


@pytest.fixture
def signed_up(invoke, mailed_codes):
    """An email signed up, its code mailed and not yet used."""
    email = "ada@example.com"
    assert auth(invoke, "signup", sign_up_body(email)).status == 202
    return email, mailed_codes(email)[-1]


# ------------------------------------------------------------------------------ sign-up


def test_a_confirmed_sign_up_creates_the_account_with_the_person_as_owner(invoke, signed_up):
    email, code = signed_up

    answer = auth(invoke, "confirm", {"email": email, "code": code})

    assert answer.status == 200, answer.body
    account_id, person_id = answer.body["account_id"], answer.body["person_id"]
    account = Account.get(f"ACCOUNT#{account_id}", "PROFILE")
    assert (account.name, account.email, account.status) == ("Engines", email, "active")
    assert Wallet.get(f"ACCOUNT#{account_id}", "WALLET").balance == 0
    owner = members.get_member(account_id, person_id)
    assert owner is not None and (owner.role, owner.email) == ("owner", email)
    assert members.accounts_of(person_id) == [account_id]


def test_the_sign_up_is_audited_in_the_new_account(invoke, signed_up):
    email, code = signed_up
    confirmed = auth(invoke, "confirm", {"email": email, "code": code}).body
    session = log_in(invoke, email, PASSWORD)

    request = event("audit_list", key=session["access_token"])
    request["headers"]["X-Tollgate-Account"] = confirmed["account_id"]
    answer = invoke("AuditFunction", request)

    assert answer.status == 200, answer.body
    actions = {(e["action"], e["actor"]) for e in answer.body["data"]}
    actor = f"person:{confirmed['person_id']}"
    assert actions == {("account.created", actor), ("member.added", actor)}


def test_a_wrong_code_is_refused_and_the_right_one_still_works(invoke, signed_up):
    email, code = signed_up
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    refused = auth(invoke, "confirm", {"email": email, "code": wrong})
    accepted = auth(invoke, "confirm", {"email": email, "code": code})

    assert (refused.status, refused.body["error"]["code"]) == (400, "invalid_code")
    assert accepted.status == 200


def test_five_wrong_codes_burn_the_code(invoke, signed_up):
    email, code = signed_up
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    answers = [auth(invoke, "confirm", {"email": email, "code": wrong}) for _ in range(5)]
    after = auth(invoke, "confirm", {"email": email, "code": code})

    assert [a.body["error"]["code"] for a in answers] == ["invalid_code"] * 4 + [
        "too_many_attempts"
    ]
    assert (after.status, after.body["error"]["code"]) == (400, "invalid_code")


def test_an_expired_code_is_refused(invoke, signed_up, monkeypatch):
    email, code = signed_up
    later = clock.utcnow() + timedelta(hours=25)
    monkeypatch.setattr(clock, "utcnow", lambda: later)

    answer = auth(invoke, "confirm", {"email": email, "code": code})

    assert (answer.status, answer.body["error"]["code"]) == (400, "code_expired")


def test_a_used_code_cannot_confirm_again_nor_make_a_second_account(invoke, signed_up):
    email, code = signed_up
    first = auth(invoke, "confirm", {"email": email, "code": code})

    again = auth(invoke, "confirm", {"email": email, "code": code})

    assert (again.status, again.body["error"]["code"]) == (400, "invalid_code")
    assert members.accounts_of(first.body["person_id"]) == [first.body["account_id"]]


def test_a_repeated_confirmation_finds_the_account_made(invoke, signed_up):
    """A confirmation that failed after the account was written is retried with the same
    code: the account is not made twice."""
    email, code = signed_up
    from tollgate import accounts
    from tollgate.identity.cognito import user_pool

    person_id = user_pool(get_settings()).user(email).person_id
    made_first = accounts.create_owned_account(
        person_id, accounts.NewAccount(email=email, name="Engines"), owner_name="Ada"
    )

    answer = auth(invoke, "confirm", {"email": email, "code": code})

    assert answer.status == 200
    assert answer.body["account_id"] == made_first[0].account_id
    assert members.accounts_of(person_id) == [made_first[0].account_id]


def test_signing_up_again_with_a_confirmed_email_changes_nothing_and_sends_nothing(
    invoke, sign_up, mailed_codes
):
    person = sign_up("ada@example.com")
    mailed = len(mailed_codes(person.email))

    answer = auth(invoke, "signup", sign_up_body(person.email, "Another-pass-7"))

    assert answer.status == 202 and answer.body == flows.CODE_SENT
    assert len(mailed_codes(person.email)) == mailed
    assert log_in(invoke, person.email, PASSWORD)["access_token"]
    refused = auth(invoke, "login", {"email": person.email, "password": "Another-pass-7"})
    assert refused.status == 401


def test_signing_up_again_before_confirming_starts_over_with_the_new_password(
    invoke, signed_up, mailed_codes
):
    email, first_code = signed_up

    auth(invoke, "signup", sign_up_body(email, "Second-pass-8"))
    new_code = mailed_codes(email)[-1]

    if new_code != first_code:  # one chance in a million that they are the same
        assert auth(invoke, "confirm", {"email": email, "code": first_code}).status == 400
    assert auth(invoke, "confirm", {"email": email, "code": new_code}).status == 200
    assert log_in(invoke, email, "Second-pass-8")["access_token"]
    assert auth(invoke, "login", {"email": email, "password": PASSWORD}).status == 401


def test_a_weak_password_is_refused_without_echoing_it(invoke):
    answer = auth(invoke, "signup", sign_up_body("weak@example.com", "short"))

    assert (answer.status, answer.body["error"]["code"]) == (400, "weak_password")
    assert "short" not in json.dumps(answer.body)


def test_an_invite_only_deployment_refuses_sign_up(aws):
    from dataclasses import replace

    from tollgate.errors import Forbidden

    invite_only = replace(get_settings(), self_signup=False)
    new = flows.SignUp("ada@example.com", PASSWORD, "Ada", "")

    with pytest.raises(Forbidden) as refused:
        flows.sign_up(new, invite_only)

    assert refused.value.code == "signup_disabled"


# ------------------------------------------------------------------------------ log-in


def test_log_in_returns_access_id_and_refresh_tokens(invoke, sign_up):
    person = sign_up()

    session = log_in(invoke, person.email, PASSWORD)

    assert session["token_type"] == "Bearer" and session["expires_in"] > 0
    assert {"access_token", "id_token", "refresh_token", "expires_at"} <= set(session)


@pytest.mark.parametrize("who", ["wrong password", "unknown email", "unconfirmed"])
def test_every_failed_log_in_answers_the_same(invoke, sign_up, signed_up, who):
    person = sign_up("known@example.com")
    unconfirmed_email, _ = signed_up
    body = {
        "wrong password": {"email": person.email, "password": "Wrong-pass-1"},
        "unknown email": {"email": "nobody@example.com", "password": PASSWORD},
        "unconfirmed": {"email": unconfirmed_email, "password": PASSWORD},
    }[who]

    answer = auth(invoke, "login", body)

    assert answer.status == 401
    assert (answer.body["error"]["code"], answer.body["error"]["message"]) == (
        "invalid_credentials",
        "Incorrect email or password.",
    )


def test_failed_log_ins_are_limited_per_email(invoke, sign_up):
    person = sign_up()
    wrong = {"email": person.email, "password": "Wrong-pass-1"}
    for _ in range(login_limits.MAX_FAILURES_PER_EMAIL):
        assert auth(invoke, "login", wrong).status == 401

    limited = auth(invoke, "login", {"email": person.email, "password": PASSWORD})

    assert (limited.status, limited.body["error"]["code"]) == (429, "too_many_login_failures")
    assert 0 < int(limited.headers["retry-after"]) <= login_limits.WINDOW_SECONDS


def test_failed_log_ins_are_limited_per_source_address(invoke, sign_up):
    person = sign_up()
    for n in range(login_limits.MAX_FAILURES_PER_ADDRESS):
        body = {"email": f"guess{n}@example.com", "password": "Wrong-pass-1"}
        assert auth(invoke, "login", body).status == 401

    limited = auth(invoke, "login", {"email": person.email, "password": PASSWORD})

    assert limited.status == 429


def test_a_refresh_gives_a_new_access_token(invoke, sign_up):
    person = sign_up()

    answer = auth(invoke, "refresh", {"refresh_token": person.refresh_token})

    assert answer.status == 200
    listed = invoke("KeysFunction", event("keys_list", key=answer.body["access_token"]))
    assert listed.status == 200


# ------------------------------------------------------------------------------ sessions


def test_an_owner_lists_and_creates_keys_with_the_session(invoke, sign_up):
    person = sign_up()

    created = invoke(
        "KeysFunction",
        event("keys_create", key=person.access_token, body={"name": "ci", "role": "admin"}),
    )
    listed = invoke("KeysFunction", event("keys_list", key=person.access_token))

    assert created.status == 201, created.body
    assert created.body["secret"].startswith("tg-")
    assert [k["id"] for k in listed.body["data"]] == [created.body["id"]]


def test_a_member_of_another_account_naming_it_gets_not_a_member(invoke, sign_up):
    owner, stranger = sign_up(), sign_up()

    answer = invoke(
        "KeysFunction", as_person(event("keys_list", key=None), stranger, owner.account_id)
    )

    assert (answer.status, answer.body["error"]["code"]) == (403, "not_a_member")


def test_a_signed_in_member_acts_with_their_role(invoke, sign_up, signed_in_member):
    owner = sign_up()
    viewer = signed_in_member(owner.account_id, permissions.VIEWER)

    listed = invoke("KeysFunction", as_person(event("keys_list", key=None), viewer))
    create = event("keys_create", key=None, body={"name": "x", "role": "inference"})
    refused = invoke("KeysFunction", as_person(create, viewer))

    assert listed.status == 200
    assert (refused.status, refused.body["error"]["code"]) == (403, "permission_denied")


def test_a_session_is_not_the_operator(invoke, sign_up):
    person = sign_up()

    answer = invoke(
        "AccountFunction",
        event(
            "account_get",
            key=person.access_token,
            path_parameters={"account_id": person.account_id},
        ),
    )

    assert (answer.status, answer.body["error"]["code"]) == (403, "operator_only")


def test_log_out_ends_the_access_and_refresh_tokens(invoke, sign_up):
    person = sign_up()

    out = auth(invoke, "logout", key=person.access_token)
    listed = invoke("KeysFunction", event("keys_list", key=person.access_token))
    refreshed = auth(invoke, "refresh", {"refresh_token": person.refresh_token})

    assert out.status == 200, out.body
    assert (listed.status, listed.body["error"]["code"]) == (401, "session_revoked")
    assert refreshed.status == 401


def test_a_new_log_in_after_a_log_out_works(invoke, sign_up):
    person = sign_up()
    auth(invoke, "logout", key=person.access_token)

    session = log_in(invoke, person.email, PASSWORD)

    listed = invoke("KeysFunction", event("keys_list", key=session["access_token"]))
    assert listed.status == 200


def _resigned(token: str, change) -> str:
    header, claims, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    change(decoded)
    body = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _other_pool_token(person) -> str:
    idp = boto3.client("cognito-idp", region_name=NAMES.region)
    pool = idp.create_user_pool(PoolName="elsewhere", UsernameAttributes=["email"])["UserPool"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="c", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]
    idp.admin_create_user(UserPoolId=pool["Id"], Username=person.email, MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool["Id"], Username=person.email, Password=PASSWORD, Permanent=True
    )
    answer = idp.initiate_auth(
        ClientId=client["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": person.email, "PASSWORD": PASSWORD},
    )
    return answer["AuthenticationResult"]["AccessToken"]


@pytest.mark.parametrize(
    "forged, code",
    [
        ("tampered", "invalid_session"),
        ("expired", "session_expired"),
        ("other pool", "invalid_session"),
        ("not a token", "invalid_session"),
        ("alg none", "invalid_session"),
    ],
)
def test_a_forged_or_expired_token_is_401(invoke, sign_up, monkeypatch, forged, code):
    person = sign_up()
    if forged == "expired":
        later = clock.utcnow() + timedelta(hours=2)
        monkeypatch.setattr(clock, "utcnow", lambda: later)
    token = {
        "tampered": lambda: _resigned(person.access_token, lambda c: c.update(sub="someone")),
        "expired": lambda: person.access_token,
        "other pool": lambda: _other_pool_token(person),
        "not a token": lambda: "abc.def.ghi",
        "alg none": lambda: "eyJhbGciOiJub25lIn0." + person.access_token.split(".")[1] + ".",
    }[forged]()

    answer = invoke("KeysFunction", event("keys_list", key=token))

    assert (answer.status, answer.body["error"]["code"]) == (401, code)


# ------------------------------------------------------------------------------ reset


def test_a_password_reset_sets_the_new_password_and_ends_every_session(
    invoke, sign_up, mailed_codes
):
    person = sign_up()
    assert auth(invoke, "forgot", {"email": person.email}).status == 202
    code = mailed_codes(person.email)[-1]

    reset = {"email": person.email, "code": code, "password": "Brand-new-pass-3"}
    answer = auth(invoke, "reset", reset)

    assert answer.status == 200, answer.body
    old = invoke("KeysFunction", event("keys_list", key=person.access_token))
    assert old.status == 401
    assert auth(invoke, "login", {"email": person.email, "password": PASSWORD}).status == 401
    assert log_in(invoke, person.email, "Brand-new-pass-3")["access_token"]
    assert auth(invoke, "reset", reset).body["error"]["code"] == "invalid_code"


def test_forgot_answers_the_same_for_an_unknown_email_and_mails_nothing(invoke, mailed_codes):
    answer = auth(invoke, "forgot", {"email": "nobody@example.com"})

    assert answer.status == 202 and answer.body == flows.CODE_SENT
    assert mailed_codes("nobody@example.com") == []


def test_codes_mailed_to_one_email_are_limited_but_the_answer_is_the_same(
    invoke, sign_up, mailed_codes
):
    person = sign_up()
    before = len(mailed_codes(person.email))
    answers = [
        auth(invoke, "forgot", {"email": person.email})
        for _ in range(login_limits.MAX_CODES_PER_EMAIL + 2)
    ]

    assert {(a.status, json.dumps(a.body)) for a in answers} == {(202, json.dumps(flows.CODE_SENT))}
    # the sign-up's own code counted in the same window
    assert len(mailed_codes(person.email)) - before == login_limits.MAX_CODES_PER_EMAIL - 1


# ------------------------------------------------------------------------------ secrecy


def test_the_password_reaches_no_table_and_no_log(invoke, sign_up, mailed_codes, capsys):
    canary = "Canary-pass-8472-XYZ"
    person = sign_up("canary@example.com", password=canary)
    auth(invoke, "login", {"email": person.email, "password": canary + "!"})
    auth(invoke, "forgot", {"email": person.email})
    code = mailed_codes(person.email)[-1]
    auth(invoke, "reset", {"email": person.email, "code": code, "password": canary + "2"})

    dynamodb = boto3.client("dynamodb", region_name=NAMES.region)
    stored = [
        json.dumps(dynamodb.scan(TableName=NAMES.ref(table))["Items"])
        for table in ("KeysTable", "WalletTable", "MetadataTable", "AuditTable")
    ]
    output = capsys.readouterr()
    for text in (*stored, output.out, output.err):
        assert canary not in text
