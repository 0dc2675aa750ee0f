"""AccountSelfFunction: an account's own routes. Its profile and its correction, and the
export of everything Tollgate holds about it (started here, written by ExportFunction,
downloaded from here)."""

from tollgate import accounts, api, audit
from tollgate.auth import Principal
from tollgate.exports import records
from tollgate.instrumentation import instrumented
from tollgate.profile import corrections, email_change
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def record(admin: Principal, action: str, export_id: str) -> None:
    audit.record(
        admin.account_id,
        actor=admin.actor,
        action=action,
        target=f"export:{export_id}",
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
    )


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
    corrected = corrections.correct_profile(caller.account_id, correction)
    if corrected.changes:
        record_account(caller, "account.updated", corrected.changes)
    if corrected.pending_email:
        record_account(caller, "account.email_change_started", None)
    view = accounts.profile_view(corrected.account)
    return api.json_response(app, 200, {**view, "pending_email": corrected.pending_email})


@app.post("/v1/account/email/confirm")
def confirm_email():
    caller = api.caller(app, settings)
    code = email_change.parse_confirmation(api.json_body(app))
    account, _ = email_change.confirm_email_change(caller.account_id, code)
    record_account(caller, "account.updated", {"email": corrections.WITHHELD})
    return api.json_response(app, 200, accounts.profile_view(account))


def record_account(caller: Principal, action: str, changes) -> None:
    audit.record(
        caller.account_id,
        actor=caller.actor,
        action=action,
        target=f"account:{caller.account_id}",
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=changes,
    )


@app.post("/v1/account/exports")
def start_export():
    admin = api.caller(app, settings)
    records.parse_new_export(api.json_body(app))
    export = records.start_export(admin.account_id, admin.actor, settings)
    record(admin, "account.export_requested", export.export_id)
    return api.json_response(app, 202, records.export_view(export, settings))


@app.get("/v1/account/exports/<export_id>")
def get_export(export_id: str):
    admin = api.caller(app, settings)
    view = records.export_view(records.get_export(admin.account_id, export_id), settings)
    if view["download_url"]:
        record(admin, "account.export_link_issued", export_id)
    return api.json_response(app, 200, view)


lambda_handler = instrumented(app.resolve)
