"""The management API's description served by DocsFunction: the document at /openapi.json and
Swagger UI at /docs, whose files the console's static route serves (`make console-assets`)."""

from __future__ import annotations

import re

from devstack.lambda_runtime import rest_event
from tests.integration.conftest import handle
from tests.integration.console_client import ConsoleClient
from tollgate.console.render import asset_digest
from tollgate.openapi.document import document


def get(path: str) -> dict:
    return rest_event(method="GET", path=path, resource=path, stage="dev")


def test_a_client_reads_the_document_at_openapi_json(invoke):
    answer = invoke("DocsFunction", get("/openapi.json"))

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert answer.body == document()


def test_the_docs_page_loads_swagger_ui_from_our_own_files_under_a_strict_csp(aws):
    page = handle("DocsFunction", get("/docs"))

    headers = {name.lower(): values[-1] for name, values in page["multiValueHeaders"].items()}
    assert page["statusCode"] == 200
    assert headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe" not in csp
    assert "<script>" not in page["body"]  # no inline script: the initialiser is a file
    digest = asset_digest("vendor/swagger-ui-bundle.js")
    assert f'src="console/static/vendor/swagger-ui-bundle.js?v={digest}"' in page["body"]
    assert re.search(r'src="console/static/api-docs\.js\?v=[0-9a-f]{16}"', page["body"])
    assert 'data-spec="openapi.json"' in page["body"]


def test_the_console_serves_the_vendored_swagger_ui_for_a_year_under_its_digest(aws):
    digest = asset_digest("vendor/swagger-ui-bundle.js")

    served = ConsoleClient().get("/console/static/vendor/swagger-ui-bundle.js", v=digest)

    assert served.status == 200
    assert served.headers["content-type"].startswith("text/javascript")
    assert "immutable" in served.headers["cache-control"]
    assert "SwaggerUIBundle" in served.text
