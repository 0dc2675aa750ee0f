"""A console request as the pages see it, and the responses they give (HTML, redirects,
downloads), every one with the console's security headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from tollgate.audit import Origin
from tollgate.errors import BadRequest

MAX_FORM_FIELDS = 200

# No inline script, no eval, nothing from elsewhere: every asset is served by the console.
# style-src 'self' forbids <style> and style="" in markup; scripts may still set element.style
# (the chart library does), which a CSP does not govern.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
HTML = "text/html; charset=utf-8"


@dataclass
class ConsoleRequest:
    method: str
    path: str  # as routed, e.g. /console/keys
    base: str  # what precedes /console in the browser's URL ("" or "/<stage>")
    query: dict[str, str]
    form: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    cookies: dict[str, str]
    source_ip: str | None
    request_id: str | None
    secure: bool  # reached over HTTPS: cookies are Secure
    set_cookies: list[Cookie] = field(default_factory=list)  # added to whatever is answered
    state: dict[str, Any] = field(default_factory=dict)  # what the session found, per request

    @property
    def htmx(self) -> bool:
        """An htmx request, which wants a fragment, not a page."""
        return self.headers.get("hx-request") == "true"

    @property
    def origin(self) -> Origin:
        """This request, as the audit trail records who changed what from where."""
        return Origin(self.request_id, self.source_ip)

    def url(self, path: str) -> str:
        """A console path as the browser must ask for it."""
        return f"{self.base}{path}"

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[-1] if values else default

    def fields(self, name: str) -> list[str]:
        return [value for value in self.form.get(name, []) if value != ""]


def from_event(event: Any) -> ConsoleRequest:
    """The request of a Powertools REST proxy event (``APIGatewayProxyEvent``)."""
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    context = event.request_context
    return ConsoleRequest(
        method=event.http_method.upper(),
        path=event.path,
        base=_base(headers, context.stage),
        query=dict(event.query_string_parameters or {}),
        form=_form(event, headers),
        headers=headers,
        cookies=_cookies(headers.get("cookie", "")),
        source_ip=context.identity.source_ip,
        request_id=context.request_id,
        secure=headers.get("x-forwarded-proto", "").lower() == "https",
    )


def _base(headers: dict[str, str], stage: str | None) -> str:
    """On an execute-api host the browser's path begins with the stage; on a custom domain
    or devstack it does not."""
    host = headers.get("host", "")
    return f"/{stage}" if stage and ".execute-api." in host else ""


def _form(event: Any, headers: dict[str, str]) -> dict[str, list[str]]:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if event.http_method.upper() in ("GET", "HEAD") or kind != "application/x-www-form-urlencoded":
        return {}
    try:
        body = event.decoded_body or ""
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form is not UTF-8 text.", code="invalid_form") from None
    try:
        parsed = parse_qs(
            body, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise BadRequest("The form has too many fields.", code="invalid_form") from None
    return parsed


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def cookie(request: ConsoleRequest, name: str, value: str, *, path: str, max_age: int) -> Cookie:
    """One of the console's cookies: HttpOnly, SameSite=Lax, Secure over HTTPS, scoped to
    ``path`` under the console; a ``max_age`` of 0 or less forgets it."""
    return Cookie(
        name=name,
        value=value,
        path=request.url(path),
        secure=request.secure,
        http_only=True,
        max_age=max_age if max_age > 0 else -1,
        same_site=SameSite.LAX_MODE,
    )


def same_origin(request: ConsoleRequest) -> bool:
    """A browser's unsafe request came from a console page: its Origin (or, without one, its
    Referer) names this host. Requests without either (scripts, not browsers) are judged by
    the CSRF token alone."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def html(request: ConsoleRequest, body: str, *, status: int = 200, **headers: str) -> Response:
    return respond(request, status, body, HTML, headers)


def redirect(request: ConsoleRequest, path: str) -> Response:
    """To another console page: a 303 for a plain request; for htmx, a full navigation."""
    location = request.url(path)
    if request.htmx:
        return respond(request, 200, "", HTML, {"hx-redirect": location})
    return respond(request, 303, "", HTML, {"location": location})


def download(request: ConsoleRequest, filename: str, body: str, content_type: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return respond(request, 200, body, content_type, {"content-disposition": disposition})


def elsewhere(request: ConsoleRequest, url: str) -> Response:
    """To a URL outside the console (Stripe Checkout, a presigned download)."""
    if request.htmx:
        return respond(request, 200, "", HTML, {"hx-redirect": url})
    return respond(request, 303, "", HTML, {"location": url})


def respond(
    request: ConsoleRequest, status: int, body: str, content_type: str, headers: dict[str, str]
) -> Response:
    return Response(
        status_code=status,
        content_type=content_type,
        body=body,
        headers={**SECURITY_HEADERS, "x-request-id": request.request_id or "", **headers},
        cookies=list(request.set_cookies),
    )


def json_script(value: Any) -> str:
    """Data for a page's script, inside <script type="application/json">: no "</" can close
    the element early."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")
