"""A browser-like client of ConsoleFunction in process: REST events as API Gateway sends
them, a cookie jar, and the CSRF token read from each page, as a browser's form carries it.
Every AWS call the console makes is checked against its IAM policy (``handle``)."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from devstack.lambda_runtime import rest_event
from tests.integration.conftest import Person, handle

CSRF_IN_PAGE = re.compile(r'name="csrf" value="([0-9a-f]{64})"|"X-CSRF-Token": "([0-9a-f]{64})"')
HOST = "console.test"


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    text: str
    cookies: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return self.headers.get("location") or self.headers.get("hx-redirect") or ""


class ConsoleClient:
    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def get(self, path: str, *, htmx: bool = False, **query: str) -> Page:
        return self.request("GET", path, query=query, htmx=htmx)

    def post(
        self,
        path: str,
        form: dict[str, Any] | None = None,
        *,
        htmx: bool = False,
        csrf: str | None = None,
        origin: str | None = None,
    ) -> Page:
        fields = dict(form or {})
        token = self.csrf if csrf is None else csrf
        if token:
            fields.setdefault("csrf", token)
        return self.request("POST", path, form=fields, htmx=htmx, origin=origin)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        form: dict[str, Any] | None = None,
        htmx: bool = False,
        origin: str | None = None,
    ) -> Page:
        headers = [("Host", HOST)]
        if self.cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        if htmx:
            headers.append(("HX-Request", "true"))
        body = b""
        if form is not None:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            headers.append(("Origin", origin or f"https://{HOST}"))
            body = urlencode(form, doseq=True).encode()
        resource = "/console" if path == "/console" else "/console/{proxy+}"
        event = rest_event(
            method=method,
            path=path,
            resource=resource,
            stage="test",
            path_parameters=None if path == "/console" else {"proxy": path[len("/console/") :]},
            headers=headers,
            query=list((query or {}).items()),
            body=body,
            request_id=str(uuid.uuid4()),
        )
        result = handle("ConsoleFunction", event)
        return self._page(result)

    def _page(self, result: dict[str, Any]) -> Page:
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        set_cookies: list[str] = []
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name.lower() == "set-cookie":
                set_cookies.extend(values)
            else:
                headers.setdefault(name.lower(), values[-1])
        for raw in set_cookies:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        body = result.get("body") or ""
        text = base64.b64decode(body).decode() if result.get("isBase64Encoded") else body
        found = CSRF_IN_PAGE.search(text)
        if found:
            self.csrf = found.group(1) or found.group(2)
        return Page(int(result["statusCode"]), headers, text, set_cookies)

    def follow(self, page: Page) -> Page:
        """Where a redirect leads (a console path)."""
        assert page.location, f"not a redirect: {page.status}"
        parts = urlsplit(page.location)
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        return self.get(parts.path, **query)

    def sign_in(self, person: Person) -> Page:
        self.get("/console/sign-in")
        signed_in = self.post(
            "/console/sign-in", {"email": person.email, "password": person.password}
        )
        assert signed_in.status == 303, signed_in.text
        return self.follow(signed_in)


def signed_in(person: Person) -> ConsoleClient:
    """A browser in which ``person`` has signed in through the console's form."""
    browser = ConsoleClient()
    browser.sign_in(person)
    return browser
