"""The one registry of console pages: each page module registers its handlers here, and
``tollgate.console.app`` serves them. A page is signed-in unless marked public; what a
signed-in person may see or do is checked by the page against the API route it stands for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools.event_handler import Response

Handler = Callable[..., Response]


@dataclass(frozen=True, slots=True)
class Page:
    method: str
    rule: str  # a Powertools route rule: /console/keys/<key_id>
    handler: Handler
    public: bool  # served to a visitor who is not signed in (sign-in, sign-up, assets)


PAGES: list[Page] = []


def page(rule: str, *, method: str = "GET", public: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler(request, settings, **path_parameters)`` for ``method rule``."""

    def register(handler: Handler) -> Handler:
        PAGES.append(Page(method.upper(), rule, handler, public))
        return handler

    return register
