"""UsageFunction: an account admin reads its usage records (metadata only: never a prompt or
a response), their daily summary, and downloads its monthly archives."""

from tollgate import api, archives, usage
from tollgate.instrumentation import instrumented
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


@app.get("/v1/usage")
def list_usage():
    admin = api.caller(app, settings)
    query = app.current_event.get_query_string_value
    filters = usage.parse_filters(query)
    if usage.export_format(query("format")) == "csv":
        records, cursor = usage.export(admin.account_id, filters, cursor=query("cursor"))
        return api.csv_response(app, "tollgate-usage.csv", usage.usage_csv(records), cursor)
    records, cursor = usage.list_usage(
        admin.account_id, filters, limit=api.int_query(app, "limit"), cursor=query("cursor")
    )
    return api.json_response(app, 200, api.page([usage.usage_view(r) for r in records], cursor))


@app.get("/v1/usage/summary")
def usage_summary():
    admin = api.caller(app, settings)
    filters = usage.parse_filters(app.current_event.get_query_string_value)
    return api.json_response(app, 200, usage.summary(admin.account_id, filters))


@app.get("/v1/usage/<request_id>")
def get_usage(request_id: str):
    admin = api.caller(app, settings)
    return api.json_response(
        app, 200, usage.usage_view(usage.get_usage(admin.account_id, request_id))
    )


@app.get("/v1/archives")
def list_archives():
    admin = api.caller(app, settings)
    batches = archives.list_batches(admin.account_id)
    return api.json_response(app, 200, api.page([archives.batch_view(b) for b in batches], None))


@app.get("/v1/archives/<month>")
def download_archive(month: str):
    admin = api.caller(app, settings)
    return api.redirect(app, archives.download_url(admin.account_id, month, settings))


lambda_handler = instrumented(app.resolve)
