"""The console's static files (its CSS and script, the vendored htmx and chart library),
served by the console itself with year-long caching: their URLs carry their digest."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from tollgate.console import render, web
from tollgate.console.routes import page
from tollgate.errors import NotFound
from tollgate.settings import Settings

TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@page("/console/static/<name>", public=True)
def static_file(request: web.ConsoleRequest, settings: Settings, name: str) -> Response:
    return served(request, name)


@page("/console/static/vendor/<name>", public=True)
def vendored_file(request: web.ConsoleRequest, settings: Settings, name: str) -> Response:
    return served(request, f"vendor/{name}")


def served(request: web.ConsoleRequest, name: str) -> Response:
    found = render.STATIC / name
    if not _known(name) or not found.is_file():
        raise NotFound("There is no such file.", code="asset_not_found")
    return web.respond(
        request,
        200,
        found.read_text(encoding="utf-8"),
        TYPES[found.suffix],
        {"cache-control": "public, max-age=31536000, immutable"},
    )


def _known(name: str) -> bool:
    """Only the console's own files, by a name with no way out of the folder."""
    parts = name.split("/")
    return all(part and not part.startswith(".") for part in parts) and (
        "." + name.rsplit(".", 1)[-1] in TYPES
    )
