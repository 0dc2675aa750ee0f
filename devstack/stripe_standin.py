"""A local stand-in for the parts of Stripe that Tollgate uses, as one pure ASGI app.

The official ``stripe`` SDK talks to it when ``STRIPE_API_BASE`` points here. Routes::

    POST /v1/checkout/sessions               create a Checkout Session (form-encoded, as the
                                             SDK sends it: line_items[0][price_data][...])
    GET  /v1/checkout/sessions/{id}          the session
    GET  /v1/payment_intents/{id}            the payment intent (expand[]=latest_charge: the
                                             charge, with its receipt_url)
    GET  /checkout/{id}                      the "hosted" checkout page (the session's url)
    POST /checkout/{id}/complete             pay: the session becomes complete/paid and the
    GET  /checkout/{id}?complete=1           signed checkout.session.completed event is sent
                                             to the webhook URL (answers with the delivery);
                                             the page's own form (a browser) is sent on to the
                                             success_url at once, as Stripe does, the event
                                             following in the background
    GET  /receipts/{charge id}               a receipt page (the charge's receipt_url)
    GET  /healthz

The /v1 routes need ``Authorization: Bearer <the stand-in's sk_test key>``. Events are signed
as Stripe signs them (``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>``)
and retried a few times when the webhook does not answer 2xx. Nothing is persisted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from devstack.servers import RunningServer, serve_in_thread

API_VERSION = "2025-01-27.acacia"
SESSION_LIFETIME_SECONDS = 24 * 3600
WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_SECONDS = 0.2
WEBHOOK_TIMEOUT_SECONDS = 15

FORM = "application/x-www-form-urlencoded"  # what a browser's form posts

Send = Callable[[dict[str, Any]], Awaitable[None]]


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{uuid.uuid4().hex[:24]}"


def nested_form(body: bytes | str) -> dict[str, Any]:
    """A form-encoded body in Stripe's bracket notation as nested dicts and lists:
    ``line_items[0][price_data][unit_amount]=2000`` → ``{"line_items": [{"price_data":
    {"unit_amount": "2000"}}]}``; ``expand[]=a`` → ``{"expand": ["a"]}``. Values stay strings."""
    text = body.decode() if isinstance(body, bytes) else body
    root: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        head = name.split("[", 1)[0]
        _insert(root, [head, *re.findall(r"\[([^\]]*)\]", name[len(head) :])], value)
    return _listify(root)


def _insert(node: dict[str, Any], path: list[str], value: str) -> None:
    for part in path[:-1]:
        node = node.setdefault(part or str(len(node)), {})
    node[path[-1] or str(len(node))] = value


def _listify(node: Any) -> Any:
    """Dicts whose keys are 0..n-1 become lists (how the SDK encodes arrays)."""
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        ordered = sorted(converted, key=int)
        if [int(key) for key in ordered] == list(range(len(ordered))):
            return [converted[key] for key in ordered]
    return converted


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeError(Exception):
    def __init__(self, status: int, kind: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.code = status, kind, message, code

    def body(self) -> dict[str, Any]:
        error = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


@dataclass
class Delivery:
    event_id: str
    event_type: str
    attempts: int = 0
    status: int | None = None
    delivered: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.event_type,
            "attempts": self.attempts,
            "status": self.status,
            "delivered": self.delivered,
        }


@dataclass
class StripeStandIn:
    """The ASGI app. ``webhook_url`` may be set after it starts (devstack knows the API's URL
    only once the emulator runs); ``fail_next(...)`` makes the next API calls fail, for tests."""

    api_key: str
    webhook_secret: str
    webhook_url: str | None = None
    base_url: str = "http://127.0.0.1"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    _failures: list[StripeError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- test helpers ---------------------------------------------------------------------
    def fail_next(self, status: int, kind: str, message: str, *, times: int = 1) -> None:
        """The next ``times`` API calls answer this Stripe error."""
        with self._lock:
            self._failures.extend(StripeError(status, kind, message) for _ in range(times))

    def last_session(self) -> dict[str, Any]:
        with self._lock:
            return list(self.sessions.values())[-1]

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        with self._lock:
            self.requests.append((method, path))
        try:
            if path.startswith("/v1/"):
                self._authorize(headers)
                status, answer = self._api(method, path, query, bytes(body), headers)
                await _send(send, status, json.dumps(answer).encode(), "application/json")
            elif (match := re.fullmatch(r"/checkout/([^/]+)/complete", path)) and method == "POST":
                if headers.get("content-type", "").startswith(FORM):
                    await _redirect(send, self._paid_in_browser(match.group(1)))
                    return
                delivery = await self._complete(match.group(1))
                answer = {"session": self._session(match.group(1)), "webhook": delivery}
                await _send(send, 200, json.dumps(answer).encode(), "application/json")
            elif (match := re.fullmatch(r"/checkout/([^/]+)", path)) and method == "GET":
                if nested_form(query).get("complete") == "1":
                    await self._complete(match.group(1))
                page = self._checkout_page(self._session(match.group(1)))
                await _send(send, 200, page.encode(), "text/html; charset=utf-8")
            elif (match := re.fullmatch(r"/receipts/([^/]+)", path)) and method == "GET":
                page = self._receipt_page(match.group(1))
                await _send(send, 200, page.encode(), "text/html; charset=utf-8")
            elif path == "/healthz":
                await _send(send, 200, b'{"status":"ok"}', "application/json")
            else:
                raise StripeError(
                    404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
                )
        except StripeError as error:
            await _send(send, error.status, json.dumps(error.body()).encode(), "application/json")

    def _authorize(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise StripeError(401, "invalid_request_error", "You did not provide an API key.")
        if not token.startswith("sk_test_") or not hmac.compare_digest(token, self.api_key):
            raise StripeError(
                401, "invalid_request_error", f"Invalid API Key provided: {token[:8]}****"
            )
        with self._lock:
            if self._failures:
                raise self._failures.pop(0)

    # -- the API --------------------------------------------------------------------------
    def _api(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/v1/checkout/sessions" and method == "POST":
            key = headers.get("idempotency-key")
            with self._lock:
                if key and key in self._idempotent:
                    return 200, self._idempotent[key]
            session = self._create_session(nested_form(body))
            with self._lock:
                if key:
                    self._idempotent[key] = session
            return 200, session
        if (match := re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path)) and method == "GET":
            return 200, self._session(match.group(1))
        if (match := re.fullmatch(r"/v1/payment_intents/([^/]+)", path)) and method == "GET":
            expand = nested_form(query).get("expand") or []
            return 200, self._payment_intent(match.group(1), expand=list(expand))
        raise StripeError(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
        )

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(400, "invalid_request_error", "Only mode=payment is supported.")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "invalid_request_error", "Missing required param: line_items.")
        total, currency = 0, None
        for item in items:
            price = item.get("price_data") or {}
            try:
                unit, quantity = int(price["unit_amount"]), int(item.get("quantity", "1"))
            except (KeyError, TypeError, ValueError):
                raise StripeError(
                    400, "invalid_request_error", "line_items need price_data[unit_amount]."
                ) from None
            if currency not in (None, price.get("currency")):
                raise StripeError(400, "invalid_request_error", "Line items differ in currency.")
            currency = price.get("currency")
            total += unit * quantity
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                raise StripeError(400, "invalid_request_error", f"Missing required param: {name}.")
        now = int(time.time())
        session_id = new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params["cancel_url"],
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "expires_at": now + SESSION_LIFETIME_SECONDS,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{self.base_url}/checkout/{session_id}",
            "_payment_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata")
            or {},
        }
        with self._lock:
            self.sessions[session_id] = session
        return _public(session)

    def _session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self.sessions.get(session_id)
        if session is None:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
            )
        return _public(session)

    def _payment_intent(self, intent_id: str, *, expand: list[str]) -> dict[str, Any]:
        with self._lock:
            intent = dict(self.payment_intents.get(intent_id) or {})
            charge = self.charges.get(intent.get("latest_charge") or "")
        if not intent:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
            )
        if "latest_charge" in expand and charge is not None:
            intent["latest_charge"] = dict(charge)
        return intent

    # -- paying ---------------------------------------------------------------------------
    async def _complete(self, session_id: str) -> dict[str, Any] | None:
        """Pay the session (once) and deliver its checkout.session.completed event; a session
        already paid is not paid again and sends nothing."""
        event = self._pay(session_id)
        if event is None:
            return None
        delivery = await asyncio.to_thread(self.deliver, event)
        return delivery.as_dict()

    def _paid_in_browser(self, session_id: str) -> str:
        """Pay as the hosted page's form does: the payer goes on to the success URL while the
        event is delivered (Stripe's webhooks do not wait for the browser, nor it for them)."""
        event = self._pay(session_id)
        if event is not None:
            threading.Thread(target=self.deliver, args=(event,), daemon=True).start()
        session = self._session(session_id)
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)

    def _pay(self, session_id: str) -> dict[str, Any] | None:
        """The session paid, and its checkout.session.completed event (None if already paid)."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise StripeError(404, "invalid_request_error", f"No such session {session_id}")
            if session["status"] != "open":
                return None
            now = int(time.time())
            intent_id, charge_id = new_id("pi"), new_id("ch")
            amount, currency = session["amount_total"], session["currency"]
            self.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "currency": currency,
                "created": now,
                "paid": True,
                "payment_intent": intent_id,
                "receipt_url": f"{self.base_url}/receipts/{charge_id}",
                "status": "succeeded",
            }
            self.payment_intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": currency,
                "created": now,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": session["_payment_intent_metadata"],
                "status": "succeeded",
            }
            session.update(status="complete", payment_status="paid", payment_intent=intent_id)
            event = {
                "id": new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": now,
                "data": {"object": _public(session)},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": "checkout.session.completed",
            }
        return event

    def deliver(self, event: dict[str, Any]) -> Delivery:
        """POST a signed event to the webhook URL, retrying on a non-2xx answer (blocking)."""
        delivery = Delivery(event["id"], event["type"])
        with self._lock:
            self.deliveries.append(delivery)
        if not self.webhook_url:
            return delivery
        payload = json.dumps(event, indent=2).encode()
        for attempt in range(WEBHOOK_ATTEMPTS):
            delivery.attempts = attempt + 1
            request = urllib.request.Request(
                self.webhook_url,
                data=payload,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": signature_header(payload, self.webhook_secret),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
                    delivery.status = answer.status
            except urllib.error.HTTPError as error:
                delivery.status = error.code
            except (urllib.error.URLError, OSError):
                delivery.status = None
            if delivery.status is not None and 200 <= delivery.status < 300:
                delivery.delivered = True
                return delivery
            time.sleep(WEBHOOK_BACKOFF_SECONDS * 2**attempt)
        return delivery

    # -- pages ----------------------------------------------------------------------------
    def _checkout_page(self, session: dict[str, Any]) -> str:
        amount = f"{session['amount_total'] / 100:.2f} {str(session['currency']).upper()}"
        sid = html.escape(session["id"])
        if session["status"] == "open":
            action = (
                f'<form method="post" action="/checkout/{sid}/complete">'
                f'<button type="submit">Pay {html.escape(amount)}</button></form>'
            )
        else:
            action = f"<p>Paid ({html.escape(session['payment_status'])}).</p>"
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Checkout (devstack)"
            "</title><link rel='icon' href='data:,'></head>"  # no favicon request to fail
            f"<body><h1>Tollgate credit</h1><p>{html.escape(amount)}</p>"
            f"<p>Session <code>{sid}</code> (devstack Stripe stand-in: no card is charged)</p>"
            f"{action}</body></html>"
        )

    def _receipt_page(self, charge_id: str) -> str:
        with self._lock:
            charge = self.charges.get(charge_id)
        if charge is None:
            raise StripeError(404, "invalid_request_error", f"No such charge: '{charge_id}'")
        amount = f"{charge['amount'] / 100:.2f} {str(charge['currency']).upper()}"
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Receipt</title></head>"
            f"<body><h1>Receipt</h1><p>{html.escape(amount)} paid</p>"
            f"<p>Charge <code>{html.escape(charge_id)}</code></p></body></html>"
        )


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _send(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"request-id", f"req_{uuid.uuid4().hex[:14]}".encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class RunningStandIn:
    app: StripeStandIn
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


def start_stripe_standin(
    api_key: str, webhook_secret: str, *, webhook_url: str | None = None, port: int = 0
) -> RunningStandIn:
    """Serve a new stand-in on loopback; its URL is the SDK's api base (STRIPE_API_BASE)."""
    if not api_key.startswith("sk_test_"):
        raise ValueError("the stand-in accepts test keys (sk_test_...) only")
    app = StripeStandIn(api_key=api_key, webhook_secret=webhook_secret, webhook_url=webhook_url)
    server = serve_in_thread(app, port, name="stripe-standin")
    app.base_url = server.url
    return RunningStandIn(app, server)
