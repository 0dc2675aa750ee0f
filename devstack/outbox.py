"""``python -m devstack outbox``: the mails devstack "sent", read back from moto's SES.

Every mail the functions send goes to moto's SES, which keeps it; moto's introspection
endpoint (``/moto-api/data.json``) lists what it keeps, raw MIME messages included. This
prints the latest of them (to, subject, plain text body), oldest first, so that verification
codes and invitation links can be copied from a terminal.
"""

from __future__ import annotations

import email
import email.policy
import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from devstack.invoke import CommandError


@dataclass(frozen=True)
class SentMail:
    """One mail as a reader sees it."""

    to: str
    subject: str
    text: str


def sent_mails(aws_url: str) -> list[SentMail]:
    """Every mail moto's SES accepted, in the order it was sent."""
    with urllib.request.urlopen(f"{aws_url}/moto-api/data.json", timeout=60) as answer:
        models = json.loads(answer.read()).get("ses", {})
    mails = [raw_mail(item) for item in models.get("RawMessage", [])]
    mails += [simple_mail(item) for item in models.get("Message", [])]
    return mails


def raw_mail(item: dict[str, Any]) -> SentMail:
    message = email.message_from_string(item["raw_data"], policy=email.policy.default)
    plain = message.get_body(preferencelist=("plain",))
    to = message.get("To") or ", ".join(item.get("destinations") or [])
    text = plain.get_content() if plain is not None else ""
    return SentMail(to=str(to), subject=str(message.get("Subject", "")), text=text)


def simple_mail(item: dict[str, Any]) -> SentMail:
    """A mail sent with SendEmail (moto keeps its HTML body if it had one, else its text)."""
    destinations = item.get("destinations") or {}
    fields = ("ToAddresses", "CcAddresses")
    to = ", ".join(a for field in fields for a in destinations.get(field, []))
    return SentMail(to=to, subject=item.get("subject") or "", text=item.get("body") or "")


def latest(mails: list[SentMail], *, to: str | None, last: int) -> list[SentMail]:
    if last < 1:
        raise CommandError(f"--last must be at least 1, not {last}")
    if to:
        mails = [m for m in mails if to.lower() in (a.strip().lower() for a in m.to.split(","))]
    return mails[-last:]


def printable(mails: list[SentMail]) -> str:
    if not mails:
        return "(no mail sent yet)\n"
    return "".join(
        f"To: {m.to}\nSubject: {m.subject}\n\n{m.text.rstrip()}\n{'=' * 72}\n" for m in mails
    )
