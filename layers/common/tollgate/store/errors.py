"""Translation of PynamoDB/botocore failures into the project's error hierarchy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model

from tollgate.errors import InternalError, TollgateError
from tollgate.observability import logger

M = TypeVar("M", bound=Model)


def cancellation_codes(error: TransactWriteError) -> list[str | None]:
    """The per-item reasons of a cancelled transaction, in the order PynamoDB sent the items:
    condition checks, then deletes, then puts, then updates (not the order they were added)."""
    return [reason.code if reason else None for reason in error.cancellation_reasons or []]


@contextmanager
def storage_errors(
    operation: str, *, conditions: Mapping[int, TollgateError] | None = None
) -> Iterator[None]:
    """Translate storage failures: a failed condition on transaction item N raises
    ``conditions[N]``; anything else is an InternalError, logged without item contents."""
    try:
        yield
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        for index, translated in (conditions or {}).items():
            if index < len(codes) and codes[index] == "ConditionalCheckFailed":
                raise translated from error
        logger.exception("transaction failed", extra={"operation": operation, "reasons": codes})
        raise InternalError("The request could not be completed; try again.") from error
    except PynamoDBException as error:
        logger.exception("storage failure", extra={"operation": operation})
        raise InternalError("The request could not be completed; try again.") from error


def get_item(model: type[M], hash_key: str, range_key: str) -> M | None:
    """One item by its key (a consistent read), or None; storage failures translated."""
    with storage_errors(f"get_{model.__name__}"):
        try:
            return model.get(hash_key, range_key, consistent_read=True)
        except model.DoesNotExist:
            return None
