"""The proxy's DynamoDB round trips, over the lean AWS client (no botocore, no PynamoDB).

Three calls: find the key a presented secret belongs to (cold key cache only), the hold
transaction and the settle transaction. Items are written in exactly the shapes the PynamoDB
models in ``store.models`` read; ``tests/integration`` reads them back through those models.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tollgate.aws import AwsError
from tollgate.aws.dynamodb_json import deserialize_item, serialize, serialize_item
from tollgate.errors import InternalError, PaymentRequired, Unauthenticated
from tollgate.store import layout

TRANSACTION_ATTEMPTS = 4
USAGE_RETENTION = timedelta(days=90)
USAGE_TTL_GRACE = timedelta(days=14)  # time the archive job has to copy a record out
HOLD_TTL_GRACE = timedelta(days=7)  # the reaper releases holds long before TTL deletes them


@dataclass(frozen=True, slots=True)
class Tables:
    keys: str
    wallet: str
    metadata: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    account_id: str
    role: str
    status: str


@dataclass(frozen=True, slots=True)
class Hold:
    request_id: str
    account_id: str
    key_id: str
    model: str
    amount: int
    created_at: datetime
    expires_at: datetime


@dataclass(slots=True)
class UsageRecord:
    """Metadata of one request; never any content."""

    request_id: str
    account_id: str
    key_id: str
    model: str
    provider: str
    upstream_model: str
    route: int
    endpoint: str
    stream: bool
    status_code: int
    status: str
    created_at: datetime
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    error_type: str | None = None
    latency_ms: int = 0
    upstream_latency_ms: int = 0
    overhead_ms: int = 0
    hold: int = 0
    charge: int = 0
    usage_estimated: bool = False


class HotPath:
    def __init__(self, dynamodb: Any, tables: Tables) -> None:
        self.dynamodb = dynamodb
        self.tables = tables

    def find_key(self, digest: str) -> KeyRecord | None:
        answer = self._call(
            "GetItem",
            {
                "TableName": self.tables.keys,
                "Key": _key(layout.secret_pk(digest), layout.SECRET_SK),
                "ConsistentRead": True,
            },
        )
        if "Item" not in answer:
            return None
        item = deserialize_item(answer["Item"])
        return KeyRecord(item["key_id"], item["account_id"], item["role"], item["status"])

    def hold(self, hold: Hold) -> None:
        """Take ``hold.amount`` from the balance into held, if the key is still active and the
        balance covers it: one transaction."""
        account = layout.account_pk(hold.account_id)
        items = [
            {
                "ConditionCheck": {
                    "TableName": self.tables.keys,
                    "Key": _key(layout.key_pk(hold.key_id), layout.KEY_SK),
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":active": serialize("active")},
                }
            },
            {
                "Update": {
                    "TableName": self.tables.wallet,
                    "Key": _key(account, layout.WALLET_SK),
                    "UpdateExpression": "SET balance = balance - :amount, held = held + :amount",
                    "ConditionExpression": "balance >= :amount",
                    "ExpressionAttributeValues": {":amount": serialize(hold.amount)},
                }
            },
            {
                "Put": {
                    "TableName": self.tables.wallet,
                    "Item": serialize_item(_hold_item(hold)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        refusals = {
            0: Unauthenticated("This API key has been revoked.", code="key_revoked"),
            1: PaymentRequired(
                "Insufficient balance for this request: top up the wallet or lower max_tokens.",
                code="insufficient_balance",
            ),
        }
        self._transact(f"hold:{hold.request_id}", items, refusals)

    def settle(self, hold: Hold, usage: UsageRecord) -> bool:
        """Release the hold, charge ``usage.charge``, add it to the key's spend and the day's
        ledger entry, and write the usage record: one transaction. False when the hold was
        already gone (the reaper released it): nothing is written then."""
        account = layout.account_pk(hold.account_id)
        refund = hold.amount - usage.charge
        at = layout.timestamp(usage.created_at)
        items = [
            {
                "Delete": {
                    "TableName": self.tables.wallet,
                    "Key": _key(account, layout.hold_sk(hold.request_id)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.tables.wallet,
                    "Key": _key(account, layout.WALLET_SK),
                    "UpdateExpression": "SET balance = balance + :refund, held = held - :hold, "
                    "updated_at = :at",
                    "ExpressionAttributeValues": {
                        ":refund": serialize(refund),
                        ":hold": serialize(hold.amount),
                        ":at": serialize(at),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.tables.keys,
                    "Key": _key(layout.key_pk(hold.key_id), layout.KEY_SK),
                    "UpdateExpression": "ADD spend :charge SET last_used_at = :at",
                    "ExpressionAttributeValues": {
                        ":charge": serialize(usage.charge),
                        ":at": serialize(at),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.tables.wallet,
                    "Key": _key(account, layout.daily_charges_sk(usage.created_at)),
                    "UpdateExpression": "ADD amount :debit SET entry_id = :id, account_id = "
                    ":account, kind = :kind, reason = :reason, created_at = if_not_exists("
                    "created_at, :at)",
                    "ExpressionAttributeValues": {
                        ":debit": serialize(-usage.charge),
                        ":id": serialize(f"charges-{usage.created_at.date().isoformat()}"),
                        ":account": serialize(hold.account_id),
                        ":kind": serialize("charge"),
                        ":reason": serialize("usage charges of the day (UTC)"),
                        ":at": serialize(at),
                    },
                }
            },
            {
                "Put": {
                    "TableName": self.tables.metadata,
                    "Item": serialize_item(_usage_item(usage)),
                }
            },
        ]
        try:
            self._transact(f"settle:{hold.request_id}", items, {0: _HoldGone()})
        except _HoldGone:
            return False
        return True

    def _transact(
        self, token: str, items: list[dict[str, Any]], refusals: dict[int, Exception]
    ) -> None:
        """One transaction, retried on conflicts, throttling and lost answers. The client
        request token makes a retry of an applied transaction a no-op (DynamoDB keeps it for
        ten minutes), so a settle is never applied twice."""
        payload = {
            "TransactItems": items,
            "ClientRequestToken": hashlib.sha256(token.encode()).hexdigest()[:36],
        }
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self.dynamodb.call("TransactWriteItems", payload)
                return
            except AwsError as error:
                reasons = [r.get("Code") for r in error.cancellation_reasons or []]
                for index, refusal in refusals.items():
                    if index < len(reasons) and reasons[index] == "ConditionalCheckFailed":
                        raise refusal from error
                retry = error.retryable or error.code in ("Timeout", "ConnectionError")
                if not retry or attempt + 1 == TRANSACTION_ATTEMPTS:
                    raise InternalError("The request could not be completed; try again.") from error
                time.sleep(random.uniform(0, 0.025 * 2**attempt))

    def _call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.dynamodb.call(operation, payload)
        except AwsError as error:
            raise InternalError("The request could not be completed; try again.") from error


class _HoldGone(Exception):
    """The settle found no hold to release."""


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _hold_item(hold: Hold) -> dict[str, Any]:
    expires = layout.timestamp(hold.expires_at)
    return {
        "pk": layout.account_pk(hold.account_id),
        "sk": layout.hold_sk(hold.request_id),
        "request_id": hold.request_id,
        "account_id": hold.account_id,
        "key_id": hold.key_id,
        "model": hold.model,
        "amount": hold.amount,
        "created_at": layout.timestamp(hold.created_at),
        "expires_at": expires,
        "gsi1pk": layout.HOLDS_BY_EXPIRY,
        "gsi1sk": f"{expires}#{hold.request_id}",
        "ttl": int((hold.expires_at + HOLD_TTL_GRACE).timestamp()),
    }


def _usage_item(usage: UsageRecord) -> dict[str, Any]:
    item = {
        name: getattr(usage, name)
        for name in UsageRecord.__slots__
        if getattr(usage, name) is not None and name != "created_at"
    }
    item.update(
        pk=layout.account_pk(usage.account_id),
        sk=layout.usage_sk(usage.created_at, usage.request_id),
        created_at=layout.timestamp(usage.created_at),
        gsi1pk=f"REQUEST#{usage.request_id}",
        gsi1sk="USAGE",
        ttl=int((usage.created_at + USAGE_RETENTION + USAGE_TTL_GRACE).timestamp()),
    )
    return item
