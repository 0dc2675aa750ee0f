"""AccountSelfFunction: an account's own routes. Its profile and its correction, the export
of everything Tollgate holds about it (started here, written by ExportFunction, downloaded from
here), and its deletion (scheduled and restored here, purged by PurgeFunction)."""

from tollgate import account_self, accounts, api, deletion
from tollgate.exports import records
from tollgate.instrumentation import instrumented
from tollgate.profile import corrections, email_change
from tollgate.settings import get_settings
from tollgate.team import Origin

settings = get_settings()
app = api.management_app()


def origin() -> Origin:
    return Origin(api.request_id(app), api.source_ip(app))


@app.get("/v1/account")
def get_account():
    admin = api.caller(app, settings)
    return api.json_response(
        app, 200, accounts.profile_view(accounts.get_account(admin.account_id))
    )


@app.patch("/v1/account")
def correct_account():
    caller = api.caller(app, settings)
    correction = corrections.parse_correction(api.json_body(app))
    corrected = account_self.correct_profile(caller, correction, origin=origin())
    view = accounts.profile_view(corrected.account)
    return api.json_response(app, 200, {**view, "pending_email": corrected.pending_email})


@app.post("/v1/account/email/confirm")
def confirm_email():
    caller = api.caller(app, settings)
    code = email_change.parse_confirmation(api.json_body(app))
    account = account_self.confirm_email(caller, code, origin=origin())
    return api.json_response(app, 200, accounts.profile_view(account))


@app.post("/v1/account/exports")
def start_export():
    admin = api.caller(app, settings)
    records.parse_new_export(api.json_body(app))
    export = account_self.start_export(admin, settings, origin=origin())
    return api.json_response(app, 202, records.export_view(export, settings))


@app.get("/v1/account/exports/<export_id>")
def get_export(export_id: str):
    admin = api.caller(app, settings)
    view = account_self.export_view(admin, export_id, settings, origin=origin())
    return api.json_response(app, 200, view)


@app.delete("/v1/account")
def schedule_deletion():
    owner = api.caller(app, settings)
    body = api.json_body(app)
    account = account_self.schedule_deletion(owner, body, settings, origin=origin())
    return api.json_response(app, 202, deletion.deletion_view(account))


@app.post("/v1/account/restore")
def restore():
    owner = api.caller(app, settings)
    account = account_self.restore(owner, origin=origin())
    return api.json_response(app, 200, deletion.deletion_view(account))


lambda_handler = instrumented(app.resolve)
