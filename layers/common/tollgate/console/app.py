"""The console's resolver: every registered page behind the same checks (CSRF on unsafe
methods, the session for signed-in pages), and one mapping of errors to what the browser
sees: a signed-out visitor goes to sign-in, a refusal is a message in the page (or, for
htmx, in its message area) with the API's status code, never a blank page."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from tollgate.console import render, session, web
from tollgate.console.routes import PAGES, Page
from tollgate.errors import InternalError, TollgateError, Unauthenticated
from tollgate.observability import logger
from tollgate.settings import Settings

SAFE_METHODS = ("GET", "HEAD")


def console_app(settings: Settings) -> APIGatewayRestResolver:
    from tollgate.console import pages  # noqa: F401 - registers every page

    app = APIGatewayRestResolver()
    for page in PAGES:
        app.route(page.rule, page.method)(_served(app, page, settings))

    @app.not_found
    def no_page(_: Exception) -> Response:
        request = web.from_event(app.current_event)
        return failure(request, settings, 404, "There is no such page in the console.")

    return app


def _served(app: APIGatewayRestResolver, page: Page, settings: Settings) -> Any:
    @functools.wraps(page.handler)
    def serve(**parameters: str) -> Response:
        request = None
        try:
            request = web.from_event(app.current_event)
            if request.method not in SAFE_METHODS:
                session.check_csrf(request, settings)
            if not page.public:
                session.signed_in(request, settings)
            return page.handler(request, settings, **parameters)
        except Unauthenticated as refused:
            if request is None:
                raise
            return to_sign_in(request, refused)
        except TollgateError as refused:
            logger.info(
                "console request refused", extra={"status": refused.status, "code": refused.code}
            )
            if request is None:
                raise
            return failure(request, settings, refused.status, refused.message)
        except Exception:
            logger.exception("unexpected console error")
            if request is None:
                raise
            message = InternalError("Internal error; nothing was changed.").message
            return failure(request, settings, 500, message)

    return serve


def to_sign_in(request: web.ConsoleRequest, refused: Unauthenticated) -> Response:
    session.end(request)
    back = request.path if request.method in SAFE_METHODS and not request.htmx else ""
    target = "/console/sign-in"
    if back.startswith("/console/") and back != target:
        target += f"?next={quote(back)}"
    return web.redirect(request, target)


def failure(request: web.ConsoleRequest, settings: Settings, status: int, message: str) -> Response:
    """The message where the person will read it: for htmx, in the page's message area."""
    if request.htmx:
        body = render.render(request, settings, "_message.html", kind="error", message=message)
        return web.html(
            request, body, status=status, **{"hx-retarget": "#messages", "hx-reswap": "innerHTML"}
        )
    signed_in = session.current(request, settings) is not None
    body = render.render(
        request, settings, "error.html", status=status, message=message, signed_in=signed_in
    )
    return web.html(request, body, status=status)
