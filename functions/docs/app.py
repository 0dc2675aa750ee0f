"""DocsFunction: the management API's OpenAPI document (GET /openapi.json) and its reference
page (GET /docs); see tollgate.openapi.serve."""

from tollgate.instrumentation import instrumented
from tollgate.openapi.serve import docs_app

app = docs_app()
lambda_handler = instrumented(app.resolve)
