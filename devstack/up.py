"""Bring the local stack up: moto, mock upstreams, the template's resources, a demo account
and the API emulator; print the contract; stop everything on SIGINT or SIGTERM."""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
import yaml

from devstack import stack
from devstack.aws import provision
from devstack.emulator import ApiEmulator, FunctionPool
from devstack.moto_server import MotoServer
from devstack.queues import QueuePollers
from devstack.servers import PortInUse, listen_on, serve_in_thread
from devstack.stack import NO_PROVIDER_KEY, PROVIDER_KINDS
from devstack.stripe_standin import start_stripe_standin
from devstack.template import ROOT, LocalNames, Template
from devstack.upstreams.server import RunningUpstreams, start_upstreams

DEMO_CREDIT_USD = "10.00"
DEMO_OWNER_EMAIL = "demo@tollgate.local"  # the demo account's email, its owner's too
ENV_FILE = "env"
LOGS_DIR = "logs"
FUNCTIONS_LOG = "functions.log"
DYNAMODB_LOG = "dynamodb.jsonl"  # moto's request log: one JSON line per AWS request
LAYER_CATALOG = ROOT / "layers" / "common" / "tollgate" / "catalog.yaml"


@dataclass
class Stack:
    """A running local stack: its servers, its functions and what it prints."""

    contract: dict[str, str]
    environment: dict[str, str]
    pool: FunctionPool
    upstreams: RunningUpstreams
    servers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        # Requests still in flight are cancelled (uvicorn would log each one's traceback).
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        for server in self.servers:
            server.stop()


@dataclass(frozen=True)
class ExternalUpstreams:
    """Providers served by servers of the user's choice instead of devstack's mock upstreams:
    base URLs and API keys by provider kind (openai, anthropic, gemini)."""

    urls: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)

    def base_urls(self, mocks: Mapping[str, str]) -> dict[str, str]:
        return {**mocks, **self.urls}

    def provider_keys(self, mocks: Mapping[str, str]) -> dict[str, str]:
        return {**mocks, **{kind: self.keys.get(kind, NO_PROVIDER_KEY) for kind in self.urls}}


def run_stack(
    *,
    port: int,
    aws_port: int,
    state_dir: Path,
    verbose: bool = False,
    external: ExternalUpstreams | None = None,
) -> int:
    started = time.monotonic()
    stop = stop_on_signals()
    contract_out = functions_print_elsewhere(state_dir, verbose=verbose)
    try:
        running = start_stack(port=port, aws_port=aws_port, state_dir=state_dir, external=external)
    except PortInUse as busy:
        print(port_in_use_message(busy, api_port=port), file=sys.stderr)
        return 2
    print_contract(running.contract, contract_out)
    print(hints(running.contract, started, verbose=verbose), file=sys.stderr)
    if external and external.urls:
        print(external_hint(external), file=sys.stderr)
    while not stop.wait(0.5):
        pass
    running.stop()
    for written in ("state.json", ENV_FILE):
        (state_dir / written).unlink(missing_ok=True)
    print("devstack stopped", file=sys.stderr)
    return 0


def port_in_use_message(busy: PortInUse, *, api_port: int) -> str:
    if busy.port == api_port:
        return (
            f"devstack: port {busy.port} is already in use (another devstack?). Pick another:"
            f" make run PORT={busy.port + 1}, or python -m devstack --port {busy.port + 1}"
            " (0 picks a free one)"
        )
    return (
        f"devstack: port {busy.port} (--aws-port, moto) is already in use. Pick another:"
        " python -m devstack --aws-port N (0, the default, picks a free one)"
    )


def start_stack(
    *, port: int, aws_port: int, state_dir: Path, external: ExternalUpstreams | None = None
) -> Stack:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state_dir.mkdir(parents=True, exist_ok=True)
    api_socket = listen_on(port)  # first: a busy port fails before anything starts
    template = Template.load()
    console_url = f"http://127.0.0.1:{api_socket.getsockname()[1]}/console"
    names = LocalNames.for_template(
        template, stack=stack.STACK, region=stack.REGION, parameters={"ConsoleUrl": console_url}
    )

    moto = MotoServer(
        aws_port,
        request_log=state_dir / LOGS_DIR / DYNAMODB_LOG,
        credentials={
            stack.BASE_ENVIRONMENT["AWS_ACCESS_KEY_ID"]: stack.BASE_ENVIRONMENT[
                "AWS_SECRET_ACCESS_KEY"
            ]
        },
    ).start()
    aws_url = moto.url

    external = external or ExternalUpstreams()
    mock_keys = {kind: f"mock-{kind}-{secrets.token_hex(8)}" for kind in PROVIDER_KINDS}
    upstreams = start_upstreams(mock_keys)
    provider_keys = external.provider_keys(mock_keys)
    catalog_path = state_dir / "catalog.yaml"
    write_local_catalog(catalog_path, external.base_urls(upstreams.base_urls))
    load_catalog(catalog_path)  # fail here, naming the bad entry, not on the first request

    operator_key = stack.new_operator_key()
    webhook_secret = "whsec_" + secrets.token_hex(24)
    secret_values = stack.development_secrets(
        operator_key=operator_key,
        provider_keys=secret_names_to_keys(provider_keys),
        stripe_webhook_secret=webhook_secret,
    )
    # The Stripe stand-in, with the secret's test key; webhooks go to the API once it runs.
    stripe = start_stripe_standin(secret_values["StripeApiKeySecret"], webhook_secret)
    environment = {
        **stack.BASE_ENVIRONMENT,
        "AWS_ENDPOINT_URL": aws_url,
        "TOLLGATE_CATALOG_PATH": str(catalog_path),
        "STRIPE_API_BASE": stripe.url,
        **stack.functions_environment(template, names),  # ConsoleUrl: the links in mail
    }
    os.environ.update(environment)
    provision(
        template,
        names,
        boto3.Session(),
        secret_values=secret_values,
        endpoint_url=aws_url,
    )
    # Cognito chose the user pool's and app client's ids: the functions learn them now.
    environment.update(stack.functions_environment(template, names))
    environment["TOLLGATE_COGNITO_JWKS_URL"] = stack.jwks_url(aws_url, names)
    os.environ.update(environment)
    # The mailer's sender, as the operator verifies it in SES (moto: verified at once).
    boto3.client("ses", endpoint_url=aws_url).verify_email_identity(
        EmailAddress=names.parameters["SenderEmail"]
    )
    demo = seed_demo_account()
    console = seed_demo_owner(demo["account_id"], names.refs["UserPool"], aws_url)
    seed_archive_start()

    pool = FunctionPool(template.functions(), names.region)
    pollers = QueuePollers(template, names, boto3.client("sqs", endpoint_url=aws_url), pool.invoke)
    api = serve_in_thread(
        ApiEmulator(
            template, pool, stage=names.parameters["Environment"], cors=template.api_cors(names)
        ),
        api_socket,
    )
    stripe.app.webhook_url = f"{api.url}/webhooks/stripe"
    state = {
        "environment": environment,
        "api_url": api.url,
        "stripe_api_base": stripe.url,
        "demo": {"account_id": demo["account_id"], "admin_key": demo["admin_key"]},
    }
    (state_dir / "state.json").write_text(json.dumps(state, indent=2))

    contract = {
        "TOLLGATE_URL": api.url,
        "OPENAI_BASE_URL": f"{api.url}/v1",
        "TOLLGATE_API_KEY": demo["inference_key"],
        "TOLLGATE_ADMIN_KEY": demo["admin_key"],
        "TOLLGATE_OPERATOR_KEY": operator_key,
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_REGION": names.region,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "STRIPE_API_BASE": stripe.url,
        "TOLLGATE_ACCOUNT_ID": demo["account_id"],  # the demo account the keys above belong to
        "TOLLGATE_CONSOLE_URL": console_url,  # open it in a browser; sign in as below
        # the demo account's owner, who signs in to the console (or POST /v1/auth/login)
        "TOLLGATE_CONSOLE_EMAIL": console["email"],
        "TOLLGATE_CONSOLE_PASSWORD": console["password"],
        "DEVSTACK_ENV_FILE": str(state_dir / ENV_FILE),
        "DEVSTACK_LOGS": str(state_dir / LOGS_DIR),
    }
    write_env_file(state_dir / ENV_FILE, contract)
    servers = [pollers.start(), api, stripe, upstreams, moto]
    return Stack(contract, environment, pool, upstreams, servers)


# An example keyless OpenAI-compatible video provider, so that path runs on the devstack too.
LOCAL_PROVIDERS = {"videolab": {"kind": "openai_compatible"}}
LOCAL_MODELS = [
    {
        "id": "videolab/video-1",
        "upstream_id": "video-1",
        "endpoints": ["videos"],
        "released": datetime.date(2026, 1, 1),
        "context_length": 1024,
        "pricing": {"per_video_second": "0.10"},
        "video": {
            "seconds": [4, 8, 12],
            "resolutions": {"720p": "0.10", "1080p": "0.30"},
            "retention_hours": 24,
        },
    }
]


def write_local_catalog(path: Path, base_urls: dict[str, str]) -> None:
    """The real catalog with every provider's base URL pointed at the mock upstreams (or at
    the external upstreams given instead), plus the local-only ``LOCAL_PROVIDERS`` and
    ``LOCAL_MODELS``."""
    catalog = yaml.safe_load(LAYER_CATALOG.read_text())
    catalog["providers"].update(copy.deepcopy(LOCAL_PROVIDERS))
    catalog["models"] += copy.deepcopy(LOCAL_MODELS)
    for provider in catalog["providers"].values():
        provider["base_url"] = base_urls[provider["kind"]]
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))


def secret_names_to_keys(provider_keys: dict[str, str]) -> dict[str, str]:
    """The provider-keys secret, keyed by the catalog's secret names."""
    catalog = yaml.safe_load(LAYER_CATALOG.read_text())
    return {
        spec["secret"]: provider_keys.get(spec["kind"], provider_keys["openai"])
        for spec in catalog["providers"].values()
    }


def load_catalog(path: Path) -> None:
    from tollgate.catalog import load_catalog as validate

    validate(path)


def seed_demo_account() -> dict[str, str]:
    """A demo account with credit, created through the same layer code the functions run."""
    from tollgate import accounts, audit, keys, ledger, money

    created = accounts.create_account(
        accounts.NewAccount(email=DEMO_OWNER_EMAIL, name="Demo account")
    )
    account_id = created.account.account_id
    amount = money.parse_usd(DEMO_CREDIT_USD)
    ledger.credit(account_id, amount, kind="adjustment", reason="devstack demo credit")
    inference = keys.create_key(account_id, keys.NewKey(name="demo", role="inference"))
    for action, target, changes in (
        ("account.created", f"account:{account_id}", {"status": (None, "active")}),
        ("wallet.credited", f"account:{account_id}", {"balance_usd": (None, DEMO_CREDIT_USD)}),
        ("key.created", f"key:{inference.key.key_id}", {"role": (None, "inference")}),
    ):
        audit.record(account_id, actor="devstack", action=action, target=target, changes=changes)
    return {
        "account_id": account_id,
        "admin_key": created.admin_key.secret,
        "inference_key": inference.secret,
    }


def seed_demo_owner(account_id: str, user_pool_id: str, aws_url: str) -> dict[str, str]:
    """The demo account's owner: a confirmed user with a verified email in the user pool and
    the account's ``owner`` member, with a password made for this run."""
    from tollgate import clock
    from tollgate.store import members

    email, password = DEMO_OWNER_EMAIL, f"Tg-{secrets.token_hex(8)}-Demo7"
    cognito = boto3.client("cognito-idp", endpoint_url=aws_url)
    attributes = [
        {"Name": "email", "Value": email},
        {"Name": "email_verified", "Value": "true"},
        {"Name": "name", "Value": "Demo owner"},
    ]
    cognito.admin_create_user(
        UserPoolId=user_pool_id, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=user_pool_id, Username=email, Password=password, Permanent=True
    )
    user = cognito.admin_get_user(UserPoolId=user_pool_id, Username=email)
    person_id = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    owner = members.member_item(
        account_id,
        person_id,
        email=email,
        name="Demo owner",
        role="owner",
        joined_at=clock.utcnow(),
    )
    owner.save()
    return {"email": email, "password": password}


def seed_archive_start() -> None:
    """The archive job owes everything from the day the stack started: invoked with a clock
    months ahead (`invoke ArchiveFunction --now ...`), it still archives today's usage."""
    from tollgate import archiving, clock

    archiving.start_from(clock.utcnow().date())


def functions_print_elsewhere(state_dir: Path, *, verbose: bool) -> TextIO:
    """From now on, what the functions print on stdout (JSON logs, metrics) goes to
    <state dir>/logs/functions.log, or with ``verbose`` to stderr, so that stdout carries the
    contract alone; returns the original stdout, for the contract."""
    sys.stdout.flush()
    contract_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    if verbose:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    else:
        logs = state_dir / LOGS_DIR
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / FUNCTIONS_LOG, "a") as log:
            os.dup2(log.fileno(), sys.stdout.fileno())
    return contract_out


def write_env_file(path: Path, contract: dict[str, str]) -> None:
    """The contract as `export NAME=value` lines: `. .devstack/env` sets them in a shell."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in contract.items()]
    path.write_text("\n".join(lines) + "\n")


def print_contract(contract: dict[str, str], out: TextIO) -> None:
    """NAME=value lines then `devstack ready`: other people's scripts parse these."""
    for name, value in contract.items():
        print(f"{name}={value}", file=out)
    print("devstack ready", file=out, flush=True)


def hints(contract: dict[str, str], started: float, *, verbose: bool) -> str:
    logs = f"; function logs: {contract['DEVSTACK_LOGS']}/ (--verbose prints them here)"
    return (
        f"devstack: up in {time.monotonic() - started:.1f}s; the values above are also in"
        f" {contract['DEVSTACK_ENV_FILE']} (`. {contract['DEVSTACK_ENV_FILE']}` in another"
        f" shell){'' if verbose else logs}; Ctrl-C stops it"
    )


def external_hint(external: ExternalUpstreams) -> str:
    served = ", ".join(f"{kind} by {url}" for kind, url in external.urls.items())
    return f"devstack: external upstreams: {served}"


def stop_on_signals() -> threading.Event:
    """SIGINT and SIGTERM set the returned event, even while the stack is still starting."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
