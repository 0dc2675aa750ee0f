"""An internal Lambda extension that keeps the sandbox awake until the proxy finished each
invocation's HTTP request, its settle included.

Under the Lambda Web Adapter an invocation ends when the app's HTTP response is complete, and
Lambda may freeze the sandbox then; but it freezes it only once the runtime and every
registered extension have asked for their next event. This extension, registered for INVOKE
events while the app is imported (during init, the only time registration is allowed), asks
for its next event only when the app has finished the request whose Lambda request id (the
``request_id`` the adapter forwards in ``x-amzn-lambda-context``) equals the invocation's, or
when the invocation's deadline is near. The INVOKE event may arrive before the request
reaches the app, so an idle app is not a finished request: only the request id says so.

Standard library only: every import is cold start. Nothing registers unless
``AWS_LAMBDA_RUNTIME_API`` is set (devstack and the tests call the app in-process; nothing
freezes there).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from tollgate.observability import logger

EXTENSION_NAME = "tollgate-settle"  # any name will do for an internal extension
API_VERSION = "2020-01-01"
DEADLINE_MARGIN_SECONDS = 1.0  # ask for the next event this long before the deadline anyway
REMEMBERED_REQUESTS = 64  # finished requests no invocation claimed (there should be none)
RETRY_SECONDS = 0.1  # between attempts to reach the Extensions API


class ExtensionError(Exception):
    """The Extensions API refused or answered something unusable."""


class FinishedRequests:
    """Lambda request ids whose HTTP request the app has finished, until an invocation
    claims them: thread-safe (the app's event loop adds, the extension's thread waits)."""

    def __init__(self, limit: int = REMEMBERED_REQUESTS) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._changed = threading.Condition()

    def add(self, request_id: str) -> None:
        with self._changed:
            self._ids[request_id] = None
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            self._changed.notify_all()

    def claim(self, request_id: str, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for ``request_id`` to finish; whether it did."""
        with self._changed:
            done = self._changed.wait_for(lambda: request_id in self._ids, max(timeout, 0.0))
            self._ids.pop(request_id, None)
            return done


class SettleExtension:
    """The registered extension: its event loop runs in a daemon thread."""

    def __init__(self, api: str, identifier: str, margin: float) -> None:
        self.api = api
        self.identifier = identifier
        self.margin = margin
        self.finished = FinishedRequests()
        self.thread = threading.Thread(target=self._run, name=EXTENSION_NAME, daemon=True)

    def _run(self) -> None:
        while True:
            event = self._next_event()
            if event.get("eventType") != "INVOKE":
                return  # SHUTDOWN: an internal extension is not sent one, but would stop here
            request_id = str(event.get("requestId", ""))
            deadline = _number(event.get("deadlineMs")) / 1000 - self.margin
            if not self.finished.claim(request_id, deadline - time.time()):
                logger.warning(
                    "request not finished by the deadline margin",
                    extra={"lambda_request_id": request_id},
                )

    def _next_event(self) -> dict[str, Any]:
        """The next event; an Extensions API that fails is asked again, since an extension
        that stops asking would hold every invocation until its timeout."""
        while True:
            try:
                return _call(
                    self.api,
                    "GET",
                    f"/{API_VERSION}/extension/event/next",
                    {"Lambda-Extension-Identifier": self.identifier},
                    timeout=None,  # waits for the next invocation, however long that is
                )[1]
            except (OSError, http.client.HTTPException, ExtensionError, ValueError) as error:
                logger.warning("extension next event failed", extra={"error": str(error)})
                time.sleep(RETRY_SECONDS)


def start(
    env: Mapping[str, str] = os.environ, *, margin: float = DEADLINE_MARGIN_SECONDS
) -> SettleExtension | None:
    """Register the extension and start its thread when running on Lambda; None elsewhere,
    or when the registration failed (the reaper still backs every settle)."""
    api = env.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        return None
    try:
        identifier = register(api)
    except (OSError, http.client.HTTPException, ExtensionError, ValueError) as error:
        logger.warning("settle extension not registered", extra={"error": str(error)})
        return None
    extension = SettleExtension(api, identifier, margin)
    extension.thread.start()
    return extension


def register(api: str) -> str:
    """Register for INVOKE events; the extension's identifier."""
    headers, _ = _call(
        api,
        "POST",
        f"/{API_VERSION}/extension/register",
        {"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
        body=json.dumps({"events": ["INVOKE"]}).encode(),
        timeout=10.0,
    )
    identifier = headers.get("lambda-extension-identifier")
    if not identifier:
        raise ExtensionError("the registration answered no Lambda-Extension-Identifier")
    return identifier


def _call(
    api: str,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body: bytes | None = None,
    timeout: float | None,
) -> tuple[dict[str, str], dict[str, Any]]:
    connection = http.client.HTTPConnection(api, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    if response.status != 200:
        raise ExtensionError(f"{method} {path} answered {response.status}")
    answer = json.loads(raw or b"{}")
    return answer_headers, answer if isinstance(answer, dict) else {}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
