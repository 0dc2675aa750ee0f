"""AuditFunction: an account admin reads the account's audit trail (and nothing else: this
function can read keys to authenticate and Query the audit table, no more)."""

from tollgate import api, audit
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.get("/v1/audit")
def list_audit_events():
    admin = api.caller(app, settings)
    found, cursor = audit.list_events(
        admin.account_id,
        limit=api.int_query(app, "limit"),
        cursor=app.current_event.get_query_string_value("cursor"),
        **audit.parse_filters(app.current_event.query_string_parameters),
    )
    body = {
        "object": "list",
        "data": [audit.event_view(event) for event in found],
        "has_more": cursor is not None,
        "next_cursor": cursor,
    }
    return api.json_response(app, 200, body)


lambda_handler = instrumented(app.resolve)
