"""The management API's description served: ``GET /openapi.json`` (the document) and
``GET /docs`` (Swagger UI over it, from the swagger-ui-dist npm package, served by the console's
static route like its other vendored files: no CDN, no inline script)."""

from __future__ import annotations

import json
from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from tollgate.console.render import asset_digest
from tollgate.openapi.document import document

# The document changes only with a release: browsers and tools may keep it a few minutes.
DOCUMENT_CACHE = "public, max-age=300"

# Every script and style comes from our own static route. 'unsafe-inline' styles are not
# needed: Swagger UI (React) sets styles through the DOM (element.style), which a CSP does not
# govern. Its "Try it out" calls this API (connect-src 'self'); its icons are data: images.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": DOCUMENT_CACHE,
}
# The page's files, by their names under the console's static folder
SCRIPTS = ("vendor/swagger-ui-bundle.js", "api-docs.js")
STYLES = ("vendor/swagger-ui.css",)

# URLs relative to /docs, so the page works under a stage prefix (/<stage>/docs) as well.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate management API</title>
<link rel="icon" href="data:,">
{styles}
</head>
<body>
<div id="swagger-ui" data-spec="openapi.json"></div>
{scripts}
</body>
</html>
"""


def static_url(name: str) -> str:
    """The console's URL of a static file, relative to /docs, with its content's digest."""
    return f"console/static/{name}?v={asset_digest(name)}"


@cache
def document_json() -> str:
    return json.dumps(document(), separators=(",", ":"))


@cache
def docs_page() -> str:
    styles = "\n".join(f'<link rel="stylesheet" href="{static_url(n)}">' for n in STYLES)
    scripts = "\n".join(f'<script src="{static_url(n)}"></script>' for n in SCRIPTS)
    return _PAGE.format(styles=styles, scripts=scripts)


def docs_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(200, "application/json", document_json(), {"cache-control": DOCUMENT_CACHE})

    @app.get("/docs")
    def docs() -> Response:
        return Response(200, "text/html; charset=utf-8", docs_page(), PAGE_HEADERS)

    return app
