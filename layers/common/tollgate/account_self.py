"""What an account's own changes do beyond the profile, export and deletion modules: the
audit trail. One implementation for AccountSelfFunction and the console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate import clock, deletion
from tollgate.auth import Principal
from tollgate.exports import records
from tollgate.profile import corrections, email_change
from tollgate.settings import Settings
from tollgate.store.models import Account, AccountExport
from tollgate.team import Origin


def correct_profile(
    caller: Principal, correction: corrections.Correction, *, origin: Origin
) -> corrections.Corrected:
    corrected = corrections.correct_profile(caller.account_id, correction)
    if corrected.changes:
        _record_account(caller, origin, "account.updated", corrected.changes)
    if corrected.pending_email:
        _record_account(caller, origin, "account.email_change_started", None)
    return corrected


def confirm_email(caller: Principal, code: str, *, origin: Origin) -> Account:
    account, _ = email_change.confirm_email_change(caller.account_id, code)
    _record_account(caller, origin, "account.updated", {"email": corrections.WITHHELD})
    return account


def start_export(admin: Principal, settings: Settings, *, origin: Origin) -> AccountExport:
    export = records.start_export(admin.account_id, admin.actor, settings)
    origin.record(admin, admin.account_id, "account.export_requested", f"export:{export.export_id}")
    return export


def export_view(
    admin: Principal, export_id: str, settings: Settings, *, origin: Origin
) -> dict[str, Any]:
    """The export as the API shows it; a download link handed out is on the trail."""
    view = records.export_view(records.get_export(admin.account_id, export_id), settings)
    if view["download_url"]:
        target = f"export:{export_id}"
        origin.record(admin, admin.account_id, "account.export_link_issued", target)
    return view


def schedule_deletion(
    owner: Principal, body: Mapping[str, Any], settings: Settings, *, origin: Origin
) -> Account:
    account = deletion.schedule_deletion(
        owner.account_id,
        body,
        now=clock.utcnow(),
        settings=settings,
        scheduled_by=deletion.known_as(owner),
    )
    changes = {"purge_after": (None, deletion.deletion_view(account)["purge_after"])}
    target = f"account:{owner.account_id}"
    origin.record(owner, owner.account_id, "account.deletion_scheduled", target, changes)
    return account


def restore(owner: Principal, *, origin: Origin) -> Account:
    account = deletion.restore(owner.account_id, now=clock.utcnow())
    changes = {"status": (deletion.SCHEDULED, account.status)}
    origin.record(
        owner, owner.account_id, "account.restored", f"account:{owner.account_id}", changes
    )
    return account


def _record_account(caller: Principal, origin: Origin, action: str, changes: Any) -> None:
    origin.record(caller, caller.account_id, action, f"account:{caller.account_id}", changes)
