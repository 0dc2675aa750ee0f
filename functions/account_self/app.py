"""AccountSelfFunction: an account's own routes. Its profile and its correction, the export
of everything Tollgate holds about it (started here, written by ExportFunction, downloaded from
here), and its deletion (scheduled and restored here, purged by PurgeFunction)."""

from tollgate import accounts, api, audit, clock, deletion
from tollgate.auth import Principal
from tollgate.exports import records
from tollgate.instrumentation import instrumented
from tollgate.profile import corrections, email_change
from tollgate.settings import get_settings

settings = get_settings()
app = api.management_app()


def record(admin: Principal, action: str, target: str, changes=None) -> None:
    audit.record(
        admin.account_id,
        actor=admin.actor,
        action=action,
        target=target,
        request_id=api.request_id(app),
        source_ip=api.source_ip(app),
        changes=changes,
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
    record(admin, "account.export_requested", f"export:{export.export_id}")
    return api.json_response(app, 202, records.export_view(export, settings))


@app.get("/v1/account/exports/<export_id>")
def get_export(export_id: str):
    admin = api.caller(app, settings)
    view = records.export_view(records.get_export(admin.account_id, export_id), settings)
    if view["download_url"]:
        record(admin, "account.export_link_issued", f"export:{export_id}")
    return api.json_response(app, 200, view)


@app.delete("/v1/account")
def schedule_deletion():
    owner = api.caller(app, settings)
    account = deletion.schedule_deletion(
        owner.account_id,
        api.json_body(app),
        now=clock.utcnow(),
        settings=settings,
        scheduled_by=deletion.known_as(owner),
    )
    view = deletion.deletion_view(account)
    changes = {"purge_after": (None, view["purge_after"])}
    record(owner, "account.deletion_scheduled", f"account:{owner.account_id}", changes)
    return api.json_response(app, 202, view)


@app.post("/v1/account/restore")
def restore():
    owner = api.caller(app, settings)
    account = deletion.restore(owner.account_id, now=clock.utcnow())
    changes = {"status": (deletion.SCHEDULED, account.status)}
    record(owner, "account.restored", f"account:{owner.account_id}", changes)
    return api.json_response(app, 200, deletion.deletion_view(account))


lambda_handler = instrumented(app.resolve)
