"""Identity's items in KeysTable: emailed codes, failed log-in counters, sign-out marks, and
the account a confirmed sign-up creates with its owner."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, PynamoDBException, UpdateError
from pynamodb.transactions import TransactWrite

from tollgate.errors import Conflict
from tollgate.store.accounts import index_in_account_list
from tollgate.store.connection import connection
from tollgate.store.errors import get_item, storage_errors
from tollgate.store.models import Account, AuthCode, LoginFailures, Member, SignOut, Wallet

CODE_SK = "CODE"
SIGNOUT_SK = "SIGNOUT"


def code_pk(purpose: str, email_digest: str) -> str:
    return f"CODE#{purpose}#{email_digest}"


def put_code(code: AuthCode) -> None:
    """The new code replaces any earlier one of the same purpose and email."""
    with storage_errors("put_code"):
        code.save()


def get_code(purpose: str, email_digest: str) -> AuthCode | None:
    return get_item(AuthCode, code_pk(purpose, email_digest), CODE_SK)


def count_wrong_attempt(code: AuthCode, max_attempts: int) -> bool:
    """One more wrong guess at this very code; False once it has had ``max_attempts``."""
    try:
        code.update(
            actions=[AuthCode.attempts.add(1)],
            condition=(AuthCode.digest == code.digest) & (AuthCode.attempts < max_attempts - 1),
        )
    except UpdateError as error:
        if _condition_failed(error):
            return False
        with storage_errors("count_wrong_attempt"):
            raise
    return True


def delete_code(code: AuthCode) -> bool:
    """Use the code up; False when another request used (or replaced) it first."""
    try:
        code.delete(condition=AuthCode.digest == code.digest)
    except DeleteError as error:
        if _condition_failed(error):
            return False
        with storage_errors("delete_code"):
            raise
    return True


def _condition_failed(error: PynamoDBException) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def login_failures(pks: list[str], window_sk: str) -> dict[str, int]:
    """The failures counted in the window under each partition (absent: 0)."""
    counts = {}
    for pk in pks:
        found = get_item(LoginFailures, pk, window_sk)
        counts[pk] = int(found.failures) if found is not None else 0
    return counts


def add_login_failure(pks: list[str], window_sk: str, ttl: datetime) -> None:
    with storage_errors("add_login_failure"):
        for pk in pks:
            LoginFailures(pk, window_sk).update(
                actions=[LoginFailures.failures.add(1), LoginFailures.ttl.set(ttl)]
            )


def count_code_mail(pk: str, window_sk: str, ttl: datetime) -> int:
    """One more code mailed in the window; the count so far, this one included."""
    item = LoginFailures(pk, window_sk)
    with storage_errors("count_code_mail"):
        item.update(actions=[LoginFailures.failures.add(1), LoginFailures.ttl.set(ttl)])
    return int(item.failures)


def signed_out_at(person_id: str) -> int | None:
    """Strongly consistent: a log-out acts on the next request."""
    found = get_item(SignOut, f"PERSON#{person_id}", SIGNOUT_SK)
    return int(found.signed_out_at) if found is not None else None


def mark_signed_out(person_id: str, at: int, ttl: datetime) -> None:
    with storage_errors("mark_signed_out"):
        SignOut(f"PERSON#{person_id}", SIGNOUT_SK, signed_out_at=at, ttl=ttl).save()


class _AlreadyCreated(Conflict):
    pass


def create_signed_up_account(account: Account, wallet: Wallet, owner: Member) -> bool:
    """The account, its wallet at zero and its owner, atomically; False when the account was
    created already (a repeated or concurrent confirmation), in which case nothing is written."""
    index_in_account_list(account)
    try:
        with (
            storage_errors("create_signed_up_account", conditions={0: _AlreadyCreated("exists")}),
            TransactWrite(connection=connection()) as tx,
        ):
            tx.save(account, condition=Account.pk.does_not_exist())
            tx.save(wallet, condition=Wallet.pk.does_not_exist())
            tx.save(owner, condition=Member.pk.does_not_exist())
    except _AlreadyCreated:
        return False
    return True
