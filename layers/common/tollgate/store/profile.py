"""The account profile's own fields as its people correct them (name, company, language)."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from tollgate.errors import NotFound
from tollgate.store.errors import storage_errors
from tollgate.store.layout import ACCOUNT_SK, account_pk
from tollgate.store.models import Account

CORRECTABLE = ("name", "company", "language")


def correct_profile(account_id: str, fields: dict[str, str | None]) -> None:
    """Set each of ``fields`` (None: remove it) in one conditional update; NotFound if the
    account does not exist."""
    actions: list[Action] = []
    for name, value in fields.items():
        if name not in CORRECTABLE:
            raise ValueError(f"{name!r} is not a correctable profile field")
        attribute = getattr(Account, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    account = Account(account_pk(account_id), ACCOUNT_SK)
    with storage_errors("correct_profile"):
        try:
            account.update(actions=actions, condition=Account.pk.exists())
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            missing = NotFound(f"Account {account_id} does not exist.", code="account_not_found")
            raise missing from None
