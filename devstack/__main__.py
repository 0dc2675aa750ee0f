"""``python -m devstack``: the whole product on one machine, or one function invoked once.

python -m devstack [--port 8787] [--verbose] start the local stack (what `make run` does);
                                             function logs go to .devstack/logs/ unless
                                             --verbose prints them on stderr
    [--upstream openai=URL [--upstream-key openai=KEY]]
                                             serve a provider (openai, anthropic, gemini) by
                                             the server at URL with that API key instead of
                                             the mock upstreams (repeatable)
python -m devstack invoke LogicalId --event events/file.json [--now 2027-03-01T03:30:00Z]
                                             run one function once against the running stack
                                             (--now: the scheduled event's time, its clock)
python -m devstack verify-audit ACCOUNT_ID   check an account's audit chain (exit 1: broken)
python -m devstack pay --amount 20 [--account ACCOUNT_ID]
                                             top a wallet up through Checkout and the Stripe
                                             stand-in (default: the demo account)
python -m devstack outbox [--to EMAIL] [--last N]
                                             the latest mails devstack sent (to, subject,
                                             text), oldest first: codes and links to copy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from devstack.stack import provider_kind_and
from devstack.template import ROOT

# As in Lambda, where the layer is unpacked under /opt/python: the layer's package and the
# functions' folders are importable.
LAYER_PATH = str(ROOT / "layers" / "common")


def main(argv: list[str] | None = None) -> int:
    for path in (LAYER_PATH, str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8787, help="API port (0 picks a free one)")
    parser.add_argument("--aws-port", type=int, default=0, help="moto server port (0: free)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("DEVSTACK_STATE_DIR") or ROOT / ".devstack"),
        help="where the running stack keeps its state (default: $DEVSTACK_STATE_DIR, .devstack)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print function logs on stderr, not to a file"
    )
    parser.add_argument(
        "--upstream",
        type=provider_kind_and("url"),
        action="append",
        default=[],
        metavar="KIND=URL",
        help="serve a provider kind (openai, anthropic, gemini) by the server at this base URL"
        " (e.g. http://127.0.0.1:9000/openai/v1) instead of devstack's mock upstream",
    )
    parser.add_argument(
        "--upstream-key",
        type=provider_kind_and("key"),
        action="append",
        default=[],
        metavar="KIND=KEY",
        help="the API key Tollgate sends to that --upstream",
    )
    commands = parser.add_subparsers(dest="command")
    invoke = commands.add_parser("invoke", help="run one function once with an event file")
    invoke.add_argument("logical_id", help="the function's logical id in template.yaml")
    invoke.add_argument("--event", type=Path, required=True, help="event JSON file")
    invoke.add_argument(
        "--now",
        help="ISO 8601 time put in the event's `time` field: a scheduled function's clock",
    )
    credit = commands.add_parser("credit", help="add credit to an account's wallet")
    credit.add_argument("account_id")
    credit.add_argument("amount_usd", help="a decimal amount, e.g. 12.50")
    verify_audit = commands.add_parser("verify-audit", help="check an account's audit chain")
    verify_audit.add_argument("account_id")
    pay_parser = commands.add_parser(
        "pay", help="top a wallet up through Stripe Checkout (stand-in)"
    )
    pay_parser.add_argument("--amount", required=True, help="USD, e.g. 20 or 20.00")
    pay_parser.add_argument("--account", help="the account id (default: the demo account)")
    outbox = commands.add_parser("outbox", help="print the latest mails devstack sent")
    outbox.add_argument("--to", help="only the mails to this address")
    outbox.add_argument("--last", type=int, default=5, help="how many (default 5)")
    args = parser.parse_args(argv)
    if strays := sorted(dict(args.upstream_key).keys() - dict(args.upstream).keys()):
        parser.error(f"--upstream-key {strays[0]}=... needs --upstream {strays[0]}=URL")
    from devstack.invoke import CommandError

    try:
        return run(args)
    except CommandError as error:
        print(f"devstack {args.command}: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:

    if args.command == "verify-audit":
        from devstack.invoke import verify_audit_chain

        report = verify_audit_chain(args.account_id, state_dir=args.state_dir)
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1

    if args.command == "credit":
        from devstack.invoke import credit_account

        print(
            json.dumps(credit_account(args.account_id, args.amount_usd, state_dir=args.state_dir))
        )
        return 0

    if args.command == "pay":
        from devstack.invoke import pay

        paid = pay(args.amount, account_id=args.account, state_dir=args.state_dir)
        print(json.dumps(paid, indent=2))
        return 0 if paid["webhook"] and paid["webhook"]["delivered"] else 1

    if args.command == "outbox":
        from devstack.invoke import use_running_stack
        from devstack.outbox import latest, printable, sent_mails

        use_running_stack(args.state_dir)
        mails = sent_mails(os.environ["AWS_ENDPOINT_URL"])
        sys.stdout.write(printable(latest(mails, to=args.to, last=args.last)))
        return 0

    if args.command == "invoke":
        from devstack.invoke import at_time, invoke_function

        event = json.loads(args.event.read_text())
        if args.now:
            event = at_time(event, args.now)
        result = invoke_function(args.logical_id, event, state_dir=args.state_dir)
        print(json.dumps(result, indent=2))
        return 0

    from devstack.up import ExternalUpstreams, run_stack

    code = run_stack(
        port=args.port,
        aws_port=args.aws_port,
        state_dir=args.state_dir,
        verbose=args.verbose,
        external=ExternalUpstreams(dict(args.upstream), dict(args.upstream_key)),
    )
    # Invocations still in flight run in worker threads the interpreter would wait for (an
    # upstream read, an AWS call's retries): a stopped Lambda container does not wait for them
    # either, and the reaper releases their holds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
