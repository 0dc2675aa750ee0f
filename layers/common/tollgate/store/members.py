"""An account's members (people with a role) in KeysTable, and the accounts of a person."""

from __future__ import annotations

from datetime import datetime

from tollgate.store.errors import get_item, storage_errors
from tollgate.store.layout import account_pk, member_sk, person_pk
from tollgate.store.models import Member

MEMBER_PREFIX = "MEMBER#"


def member_item(
    account_id: str, person_id: str, *, email: str, name: str, role: str, joined_at: datetime
) -> Member:
    return Member(
        account_pk(account_id),
        member_sk(person_id),
        account_id=account_id,
        person_id=person_id,
        email=email,
        name=name,
        role=role,
        joined_at=joined_at,
        gsi1pk=person_pk(person_id),
        gsi1sk=account_pk(account_id),
    )


def get_member(account_id: str, person_id: str) -> Member | None:
    """Strongly consistent: a removal or a role change acts on the next request."""
    return get_item(Member, account_pk(account_id), member_sk(person_id))


def members_of(account_id: str) -> list[Member]:
    with storage_errors("members_of"):
        return list(
            Member.query(
                account_pk(account_id),
                Member.sk.startswith(MEMBER_PREFIX),
                consistent_read=True,
            )
        )


def owners_of(account_id: str) -> list[Member]:
    return [member for member in members_of(account_id) if member.role == "owner"]


def accounts_of(person_id: str) -> list[str]:
    """The ids of the accounts a person belongs to (the index is eventually consistent: a
    membership is always proven by get_member before it is used)."""
    with storage_errors("accounts_of"):
        found = Member.by_person.query(person_pk(person_id))
        return [item.gsi1sk.removeprefix("ACCOUNT#") for item in found]
