"""A notification's subject, plain text and HTML from its kind's Jinja2 templates in the
layer (``tollgate/templates/mail/<kind>.subject.txt``, ``.txt``, ``.html``). HTML is
autoescaped; a field a template names but the kind does not declare is an error, not blank.
Only the mailer imports this module (Jinja2 costs its import time nowhere else)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from tollgate.notifications.kinds import KIND_FIELDS, check_context

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A mail ready to send."""

    subject: str
    text: str
    html: str


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(kind: str, context: Mapping[str, Any], *, account: Mapping[str, str]) -> Rendered:
    """``kind``'s mail for ``account`` (its id and name) with ``context``, checked again here:
    what was queued is not trusted to be what ``send`` let through."""
    values: dict[str, Any] = {field: None for field in KIND_FIELDS[kind]}
    values.update(check_context(kind, context))
    values["account"] = dict(account)
    env = environment()
    subject = env.get_template(f"{kind}.subject.txt").render(values)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the template's whitespace
        text=env.get_template(f"{kind}.txt").render(values),
        html=env.get_template(f"{kind}.html").render(values),
    )
