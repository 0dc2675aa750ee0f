"""The management API's plumbing: one resolver factory that maps every TollgateError to the
management error body, request parsing helpers and JSON responses."""

from __future__ import annotations

import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)

from tollgate import audit, auth
from tollgate.errors import BadRequest, InternalError, NotFound, TollgateError, management_body
from tollgate.observability import logger
from tollgate.settings import Settings, get_settings
from tollgate.validation import json_object


def management_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=console_cors(get_settings()))

    def error_response(error: TollgateError) -> Response:
        return json_response(
            app, error.status, management_body(error, request_id(app)), headers=error.headers
        )

    @app.exception_handler(TollgateError)
    def known_error(error: TollgateError) -> Response:
        logger.info("request refused", extra={"status": error.status, "code": error.code})
        return error_response(error)

    @app.exception_handler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(InternalError("Internal error; the request was not completed."))

    @app.not_found
    def no_route(_: Exception) -> Response:
        event = app.current_event
        return error_response(
            NotFound(f"No route {event.http_method} {event.path}.", code="route_not_found")
        )

    return app


def console_cors(settings: Settings) -> CORSConfig:
    """Cross-origin requests from the console's origin only (any other gets no
    Access-Control-Allow-Origin); never with credentials: sessions travel in a header."""
    return CORSConfig(
        allow_origin=settings.console_origin,
        allow_headers=["X-Tollgate-Account"],
        expose_headers=["X-Request-Id", "X-Next-Cursor", "Retry-After"],
        max_age=600,
        allow_credentials=False,
    )


def request_id(app: APIGatewayRestResolver) -> str | None:
    return app.current_event.request_context.request_id


def source_ip(app: APIGatewayRestResolver) -> str | None:
    return app.current_event.request_context.identity.source_ip


def page(data: list[Any], cursor: str | None) -> dict[str, Any]:
    """A page of a cursor-paginated listing."""
    return {"object": "list", "data": data, "has_more": cursor is not None, "next_cursor": cursor}


def created_fields(view: dict[str, Any]) -> dict[str, tuple[None, Any]]:
    """An object's shown fields as audit changes from nothing (secrets are never included)."""
    return {name: (None, value) for name, value in view.items() if name not in ("secret",)}


def caller(app: APIGatewayRestResolver, settings: Settings) -> auth.Principal:
    """Who called this route, refused unless ``permissions.ROUTES`` lets them
    (``auth.caller_for``)."""
    event = app.current_event
    return auth.caller_for(event.http_method, event.resource, event.headers, settings=settings)


def record_audit(
    app: APIGatewayRestResolver,
    caller: auth.Principal,
    account_id: str,
    action: str,
    target: str,
    changes: dict[str, Any] | None = None,
) -> None:
    """An audit event of this request's caller. People are named by id, never by email or
    name: the trail outlives a deleted account."""
    audit.record(
        account_id,
        actor=caller.actor,
        action=action,
        target=target,
        request_id=request_id(app),
        source_ip=source_ip(app),
        changes=changes,
    )


def json_body(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    try:
        raw = app.current_event.decoded_body
    except (UnicodeDecodeError, binascii.Error):  # a base64 body that is not UTF-8 text
        raise BadRequest("The request body is not UTF-8 text.", code="invalid_json") from None
    if raw is None or not raw.strip():
        return {}
    return json_object(raw)


def int_query(app: APIGatewayRestResolver, name: str) -> int | None:
    value = app.current_event.get_query_string_value(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.", param=name) from None


def json_response(
    app: APIGatewayRestResolver,
    status: int,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers={"x-request-id": request_id(app) or "", **(headers or {})},
    )


def csv_response(
    app: APIGatewayRestResolver, filename: str, body: str, cursor: str | None
) -> Response:
    """A CSV download; when there is more, ``x-next-cursor`` carries the cursor of the rest."""
    headers = {
        "content-disposition": f'attachment; filename="{filename}"',
        "x-request-id": request_id(app) or "",
    }
    if cursor:
        headers["x-next-cursor"] = cursor
    return Response(
        status_code=200, content_type="text/csv; charset=utf-8", body=body, headers=headers
    )


def redirect(app: APIGatewayRestResolver, location: str) -> Response:
    return Response(
        status_code=302,
        body="",
        headers={"location": location, "x-request-id": request_id(app) or ""},
    )
