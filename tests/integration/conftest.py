"""Handlers called with the events in events/ against moto, through the real code paths."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from devstack import stack
from devstack.aws import provision
from devstack.invoke import function_timeout
from devstack.lambda_runtime import LambdaContext, load_handler
from tests.support import mail
from tests.support.environment import NAMES, OPERATOR_KEY, TEMPLATE
from tests.support.iam import CallRecorder, denied
from tests.support.lean_dynamodb import BotoJsonClient
from tests.support.management_openapi import check_exchange
from tests.support.proxy_world import Customer, app, customer, upstreams  # noqa: F401 (fixtures)
from tollgate import keys, ledger
from tollgate.settings import get_settings
from tollgate.store.hotpath import HotPath, Tables

EVENTS = Path(__file__).resolve().parents[2] / "events"
RECORDER = CallRecorder(NAMES)
RECORDER.install()


@pytest.fixture
def aws() -> Iterator[None]:
    with provisioned_stack():
        yield


@contextmanager
def provisioned_stack() -> Iterator[None]:
    """The template's resources on moto for as long as the block runs; every ledger is checked
    to add up when it ends."""
    with mock_aws():
        # mock_aws empties boto3's default session, so the first boto3.client() or resource()
        # of every test (the ledger check's, a handler's) made a new one and parsed the
        # services' models again; the shared one (moto's credentials too) is put back in
        boto3.DEFAULT_SESSION = provisioning_session()
        provision(
            TEMPLATE,
            NAMES,
            provisioning_session(),
            secret_values=stack.development_secrets(
                operator_key=OPERATOR_KEY,
                provider_keys={"openai": "sk-test"},
                stripe_webhook_secret="whsec_test",
            ),
        )
        parameters.clear_caches()
        yield
        parameters.clear_caches()
        assert_every_ledger_adds_up()


@functools.cache
def provisioning_session() -> boto3.Session:
    """One session for every test's provisioning: a new one parses the services' models again,
    which was most of the 1 s each integration test spent setting up (a shared one: 0.4 s).
    Made inside the first mock, so its credentials are moto's."""
    return boto3.Session()


def assert_every_ledger_adds_up() -> None:
    """The money invariant, checked after every test for every account in WalletTable: the
    sum of an account's ledger entries equals its wallet's balance plus what it holds (for
    requests in flight, and back while a payment is disputed)."""
    table = boto3.resource("dynamodb", region_name=NAMES.region).Table(NAMES.ref("WalletTable"))
    wallets: dict[str, int] = {}
    ledgers: dict[str, int] = {}
    scan: dict[str, Any] = {}
    while True:
        page = table.scan(**scan)
        for item in page["Items"]:
            if item["sk"] == "WALLET":
                wallets[item["pk"]] = sum(
                    int(item.get(part, 0)) for part in ("balance", "held", "disputed")
                )
            elif item["sk"].startswith("LEDGER#"):
                ledgers[item["pk"]] = ledgers.get(item["pk"], 0) + int(item["amount"])
        if "LastEvaluatedKey" not in page:
            break
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    unbalanced = {
        pk: (ledgers.get(pk, 0), funds)
        for pk, funds in wallets.items()
        if ledgers.get(pk, 0) != funds
    }
    assert not unbalanced, f"ledger sum != balance + held: {unbalanced}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def event(
    name: str,
    *,
    key: str | None,
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event file from events/, with the caller's key, body, path and query."""
    loaded = json.loads((EVENTS / f"{name}.json").read_text())
    result = copy.deepcopy(loaded)
    for headers in (result["headers"], result["multiValueHeaders"]):
        headers.pop("Authorization")
    if key is not None:
        result["headers"]["Authorization"] = f"Bearer {key}"
        result["multiValueHeaders"]["Authorization"] = [f"Bearer {key}"]
    if body is not None:
        result["body"] = body if isinstance(body, str) else json.dumps(body)
    if path_parameters is not None:
        result["pathParameters"] = path_parameters
        path = result["resource"]
        for name_, value in path_parameters.items():
            path = path.replace("{" + name_ + "}", value)
        result["path"] = path
    if query is not None:
        result["queryStringParameters"] = query or None
        result["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return result


@pytest.fixture
def hotpath(aws: None) -> HotPath:
    """The proxy's hold and settle (and the reaper's release) over botocore, so moto serves
    them and the IAM recorder sees them."""
    return HotPath(BotoJsonClient(), Tables.of(get_settings()))


@pytest.fixture
def funded(new_account) -> tuple[str, str]:
    """(account id, inference key id) of a new account with 1,000,000 nano-USD."""
    account = new_account()
    ledger.credit(account.account_id, 1_000_000, kind="adjustment", reason="test credit")
    key = keys.create_key(account.account_id, keys.NewKey(name="ci", role="inference"))
    return account.account_id, key.key.key_id


@pytest.fixture
def atomic_requests(monkeypatch):
    """DynamoDB applies each request atomically (a conditional write cannot interleave with
    another); moto's in-process backends are not thread-safe and roll a failed transaction
    back by restoring whole tables, so threads in a test get one mocked request at a time, as
    devstack's moto server serves them. Which of two racing calls goes first is still up to
    the threads."""
    lock = threading.Lock()
    handle = BotocoreStubber.__call__

    def one_at_a_time(self, *args, **kwargs):
        with lock:
            return handle(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_at_a_time)


def handle(logical_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """A function's proxy response as is (a CSV body is not JSON). Every AWS call the handler
    makes must be allowed by the function's IAM policy in the template."""
    function = TEMPLATE.functions()[logical_id]
    handler = load_handler(function)
    with RECORDER.recording() as calls:
        # the function's own timeout from the template, as Lambda gives it: a job that budgets
        # its time (ArchiveFunction) gets its real 900 s, not a default a loaded machine beats
        context = LambdaContext(
            function_name=logical_id,
            region=NAMES.region,
            timeout_seconds=function_timeout(TEMPLATE, logical_id),
        )
        result = handler(request, context)
    assert not denied(calls, function.policies, NAMES), f"{logical_id} lacks IAM for these"
    check_exchange(request, result)
    return result


@pytest.fixture
def invoke(aws: None) -> Callable[[str, dict[str, Any]], Answer]:
    """Call a function's handler the way Lambda would and decode its proxy response. Every AWS
    call the handler makes must be allowed by the function's IAM policy in the template."""

    def call(logical_id: str, request: dict[str, Any]) -> Answer:
        result = handle(logical_id, request)
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(name.lower(), values[-1])
        return Answer(result["statusCode"], headers, json.loads(result["body"] or "null"))

    return call


@dataclass
class DemoAccount:
    account_id: str
    admin_key: str


@pytest.fixture
def new_account(invoke) -> Callable[..., DemoAccount]:
    """Builds accounts through the operator route, the way a real account comes to be."""
    counter = iter(range(1, 1000))

    def build(email: str | None = None) -> DemoAccount:
        email = email or f"customer{next(counter)}@example.com"
        answer = invoke(
            "AccountFunction",
            event("account_create", key=OPERATOR_KEY, body={"email": email, "name": "Customer"}),
        )
        assert answer.status == 201, answer.body
        return DemoAccount(answer.body["account"]["id"], answer.body["admin_key"]["secret"])

    return build


# ------------------------------------------------------------------------------ people


PASSWORD = "Correct-horse-9"  # meets the pool's password policy


@dataclass
class Person:
    """A person signed in to the console: their session's tokens and whose member they are."""

    email: str
    password: str
    person_id: str
    account_id: str  # the account the person signed up with, or was made a member of
    access_token: str
    refresh_token: str

    def headers(self, account_id: str | None = None) -> dict[str, str]:
        """The session, acting on ``account_id`` (default: none chosen)."""
        found = {"Authorization": f"Bearer {self.access_token}"}
        if account_id:
            found["X-Tollgate-Account"] = account_id
        return found


def as_person(request: dict[str, Any], person: Person, account_id: str | None = None) -> dict:
    """An event (see ``event``) sent with a person's session, acting on ``account_id``."""
    for name, value in person.headers(account_id).items():
        request["headers"][name] = value
        request["multiValueHeaders"][name] = [value]
    return request


@pytest.fixture
def cognito(aws: None, monkeypatch) -> None:
    """Sessions verifiable under mock_aws (moto serves its pool's JWKS over HTTP only as a
    server: here its public key file is the JWKS), and SES willing to send as our sender."""
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    from tollgate.identity import sessions

    jwks = json.loads(CognitoIdpJsonWebKeyResponse.json_web_key)
    monkeypatch.setattr(sessions, "fetch_jwks", lambda url: jwks)
    sessions._signing_keys.clear()
    mail.verify_sender()


@pytest.fixture
def mailed_codes(cognito: None) -> Callable[[str], list[str]]:
    """The codes mailed to an email so far, oldest first: the queued code mails are first
    handed to MailerFunction, as Lambda would, then read from what SES sent."""
    import re

    def codes(email: str) -> list[str]:
        mail.run_mailer(handle)
        mine = [sent for sent in mail.sent_mails() if sent.to == email]
        return [re.search(r"\b(\d{6})\b", sent.text).group(1) for sent in mine]

    return codes


@pytest.fixture
def sign_up(invoke, mailed_codes) -> Callable[..., Person]:
    """A person who signed up, confirmed with the mailed code and logged in, through
    AuthFunction: the owner of the new account their sign-up created."""
    counter = iter(range(1, 1000))

    def build(
        email: str | None = None,
        password: str = PASSWORD,
        name: str = "Ada Lovelace",
        company: str | None = None,
    ) -> Person:
        email = email or f"person{next(counter)}@example.com"
        body = {"email": email, "password": password, "name": name}
        if company is not None:
            body["company"] = company
        answer = invoke("AuthFunction", event("auth_signup", key=None, body=body))
        assert answer.status == 202, answer.body
        code = mailed_codes(email)[-1]
        confirm = {"email": email, "code": code}
        confirmed = invoke("AuthFunction", event("auth_confirm", key=None, body=confirm))
        assert confirmed.status == 200, confirmed.body
        session = log_in(invoke, email, password)
        return Person(
            email,
            password,
            confirmed.body["person_id"],
            confirmed.body["account_id"],
            session["access_token"],
            session["refresh_token"],
        )

    return build


def log_in(invoke, email: str, password: str) -> dict[str, Any]:
    body = {"email": email, "password": password}
    answer = invoke("AuthFunction", event("auth_login", key=None, body=body))
    assert answer.status == 200, answer.body
    return answer.body


@pytest.fixture
def signed_in_person(invoke, cognito) -> Callable[..., Person]:
    """``signed_in_person(email=None) -> Person``: a new person in the user pool with their
    email verified (as a confirmed sign-up has it), logged in through AuthFunction, member of
    no account yet (``account_id`` empty): someone an invitation was sent to."""
    counter = iter(range(1, 1000))
    pool = NAMES.refs["UserPool"]

    def build(email: str | None = None) -> Person:
        email = email or f"invitee{next(counter)}@example.com"
        idp = boto3.client("cognito-idp", region_name=NAMES.region)
        verified = [
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ]
        idp.admin_create_user(
            UserPoolId=pool, Username=email, UserAttributes=verified, MessageAction="SUPPRESS"
        )
        idp.admin_set_user_password(
            UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True
        )
        user = idp.admin_get_user(UserPoolId=pool, Username=email)
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        session = log_in(invoke, email, PASSWORD)
        return Person(email, PASSWORD, sub, "", session["access_token"], session["refresh_token"])

    return build


@pytest.fixture
def signed_in_member(signed_in_person) -> Callable[..., Person]:
    """``signed_in_member(account_id, role, email=None) -> Person``: a new signed-in person
    (see ``signed_in_person``) made a ``role`` member of ``account_id`` (and of no other
    account). The membership is written with the Member store's own item builder, as an
    accepted invitation writes it."""
    from tollgate import clock
    from tollgate.store import members

    counter = iter(range(1, 1000))

    def build(account_id: str, role: str, email: str | None = None) -> Person:
        person = signed_in_person(email or f"member{next(counter)}-{role}@example.com")
        members.member_item(
            account_id,
            person.person_id,
            email=person.email,
            name=role.title(),
            role=role,
            joined_at=clock.utcnow(),
        ).save()
        return dataclasses.replace(person, account_id=account_id)

    return build


def usage_of(buyer: Customer, request_id: str) -> dict[str, Any]:
    """The request's usage record, read through GET /v1/usage/{request_id} at once."""
    request = event("usage_get", key=buyer.admin_key, path_parameters={"request_id": request_id})
    result = handle("UsageFunction", request)
    assert result["statusCode"] == 200, result["body"]
    return json.loads(result["body"])
