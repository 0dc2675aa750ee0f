"""The proxy's DynamoDB round trips, over the lean AWS client (no botocore, no PynamoDB).

Three calls: find the key a presented secret belongs to (two reads, secret then key; cold
key cache only), the hold transaction (which also proves a cached key current) and the
settle transaction; and a CORS preflight's one query, whether any key allows its origin.
The reaper's two share them: the expired holds, and the release of one, which competes
with a late settle for the hold. Items are written in exactly the shapes the PynamoDB
models in ``store.models`` read; ``tests/integration`` reads them back through those models.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.aws import AwsError
from tollgate.aws.dynamodb_json import deserialize_item, serialize, serialize_item
from tollgate.errors import (
    AccountSuspended,
    BadRequest,
    InternalError,
    PaymentRequired,
    RateLimited,
    Unauthenticated,
)
from tollgate.key_policy import KeyPolicy, SpendCap, spend_period
from tollgate.money import format_usd
from tollgate.settings import Settings
from tollgate.store import layout

TRANSACTION_ATTEMPTS = 4
HOLD_TTL_GRACE = timedelta(days=7)  # the reaper releases holds long before TTL deletes them
SPEND_COUNTER_LIFETIME = timedelta(days=62)  # outlives a day's or a month's period
HOLDS_BY_EXPIRY_INDEX = "by_expiry"
ABANDONED = "abandoned"
TRY_AGAIN = "The request could not be completed; try again."


@dataclass(frozen=True)
class Tables:
    """The DynamoDB tables of the hot path."""

    keys: str
    wallet: str
    metadata: str

    @classmethod
    def of(cls, settings: Settings) -> Tables:
        return cls(settings.keys_table, settings.wallet_table, settings.metadata_table)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as one of its secrets opens it: the key record's status, role, policy and
    revision, and that secret's own end (once rotated out)."""

    key_id: str
    account_id: str
    role: str
    status: str
    policy: KeyPolicy = field(default_factory=KeyPolicy)
    grace_until: datetime | None = None  # a rotated-out secret works until then
    digest: str = ""  # the secret's, which the hold checks is still good
    revision: int = 0  # the key record's, which the hold checks is still current
    account_status: str = "active"  # as read with the key; the hold checks it is still active


class KeyChanged(Unauthenticated):
    """The hold found the key or the secret no longer as the caller's record of them says
    (revoked, expired, changed since, or the secret rotated out): read them again."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Funds reserved on a wallet for one request until it is settled or released."""

    request_id: str
    account_id: str
    key_id: str
    model: str
    amount: int
    created_at: datetime
    expires_at: datetime
    endpoint: str = ""  # as usage records name it: chat.completions, messages, embeddings...
    spend_period: str | None = None  # the spend counter the hold reserved, when the key is capped
    tokens: int = 0  # the most tokens the request can bill: reserved in a tpm key's rate window


@dataclass(slots=True)
class UsageRecord:
    """Metadata of one request; never any content."""

    request_id: str
    account_id: str
    key_id: str
    model: str  # the model that served (or last tried); the rollup's model
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
    requested_model: str | None = None  # the model the client asked for
    video_seconds: int | None = None  # a video job's seconds delivered


class HotPath:
    def __init__(self, dynamodb: Any, tables: Tables) -> None:
        self.dynamodb = dynamodb
        self.tables = tables

    def find_key(self, digest: str) -> KeyRecord | None:
        """The key a secret opens, and its account's status, as they stand now: the secret
        item, then the key record and the account's profile together (two round trips of
        strongly consistent reads)."""
        secret = self._get(layout.secret_pk(digest), layout.SECRET_SK)
        if secret is None:
            return None
        key, account = self._key_and_account(secret["key_id"], secret["account_id"])
        if key is None or key["account_id"] != secret["account_id"]:
            return None
        return KeyRecord(
            key["key_id"],
            key["account_id"],
            key["role"],
            key["status"],
            policy=_policy(key),
            grace_until=layout.parse_timestamp(secret.get("grace_until")),
            digest=digest,
            revision=int(key.get("revision") or 0),
            account_status=account.get("status", "") if account else "",
        )

    def origin_allowed(self, origin: str) -> bool:
        """Whether some active key allows this browser origin (the origin index in KeysTable,
        kept by the keys service): a CORS preflight carries no key to ask."""
        answer = self.call(
            "Query",
            {
                "TableName": self.tables.keys,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": serialize(layout.origin_pk(origin))},
                "ProjectionExpression": "pk",
                "Limit": 1,
            },
        )
        return bool(answer.get("Items"))

    def _key_and_account(
        self, key_id: str, account_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The key record and the account's profile, in one BatchGetItem (retried for what
        DynamoDB leaves unprocessed)."""
        wanted = {
            "Keys": [
                _key(layout.key_pk(key_id), layout.KEY_SK),
                _key(layout.account_pk(account_id), layout.ACCOUNT_SK),
            ],
            "ConsistentRead": True,
        }
        found: dict[str, dict[str, Any]] = {}
        for _ in range(TRANSACTION_ATTEMPTS):
            answer = self.call("BatchGetItem", {"RequestItems": {self.tables.keys: wanted}})
            for item in answer.get("Responses", {}).get(self.tables.keys, []):
                found[item["sk"]["S"]] = deserialize_item(item)
            left = answer.get("UnprocessedKeys", {}).get(self.tables.keys)
            if not left:
                return found.get(layout.KEY_SK), found.get(layout.ACCOUNT_SK)
            wanted = left
        raise InternalError(TRY_AGAIN)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self.call(
            "GetItem",
            {"TableName": self.tables.keys, "Key": _key(pk, sk), "ConsistentRead": True},
        )
        return deserialize_item(answer["Item"]) if "Item" in answer else None

    def hold(
        self,
        hold: Hold,
        policy: KeyPolicy,
        key: KeyRecord | None = None,
        *,
        also: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """One transaction: the key is still active and unexpired, its account active (not
        suspended: else AccountSuspended), its spend cap and rate window have room, and the
        balance covers the hold, which moves into held. With the caller's ``key`` record
        (perhaps cached), the transaction also proves it current: the key's revision is
        unchanged and the secret is still good; else ``KeyChanged``. ``also``: writes that
        stand or fall with the hold (a video job's item)."""
        account = layout.account_pk(hold.account_id)
        key_pk = layout.key_pk(hold.key_id)
        items = [
            {"ConditionCheck": _key_in_force(self.tables.keys, key_pk, hold.created_at, key)},
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
                    "Item": serialize_item(_hold_item(hold, policy)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"ConditionCheck": _account_active(self.tables.keys, account)},
        ]
        refusals: dict[int, Exception] = {  # the first failed condition in this order answers
            0: _key_refusal(policy, hold.created_at, changed=key is not None),
            3: account_suspended(),
            1: PaymentRequired(
                "Insufficient balance for this request: top up the wallet or lower max_tokens.",
                code="insufficient_balance",
            ),
        }
        if policy.spend_cap is not None:
            refusals[len(items)] = _cap_refusal(policy.spend_cap)
            items.append(self._reserve_spend(hold, policy.spend_cap))
        if policy.rpm or policy.tpm:
            refusals[len(items)] = _rate_refusal(policy, hold.created_at)
            items.append(self._count_request(hold, policy))
        if key is not None:  # checked first: a secret rotated out is refused before all else
            refusals = {len(items): _rotated_out(), **refusals}
            items.append({"ConditionCheck": _secret_good(self.tables.keys, key, hold.created_at)})
        items.extend(also)
        token = f"hold:{hold.request_id}:{key.revision if key else ''}"
        # the hold record is new (one per request): if it exists, an earlier attempt applied
        self.transact(token, items, refusals, applied_if_refused=2)

    def _reserve_spend(self, hold: Hold, cap: SpendCap) -> dict[str, Any]:
        limit = cap.amount - hold.amount
        if limit < 0:
            raise _cap_refusal(cap)
        update: dict[str, Any] = {
            "TableName": self.tables.keys,
            "Key": _key(layout.key_pk(hold.key_id), layout.spend_sk(_period(hold, cap))),
            "UpdateExpression": "ADD committed :hold",
            "ConditionExpression": "attribute_not_exists(committed) OR committed <= :limit",
            "ExpressionAttributeValues": {
                ":hold": serialize(hold.amount),
                ":limit": serialize(limit),
            },
        }
        if cap.period != "lifetime":  # a day's or a month's counter expires after its period
            expires = int((hold.created_at + SPEND_COUNTER_LIFETIME).timestamp())
            update["UpdateExpression"] += " SET #ttl = if_not_exists(#ttl, :ttl)"
            update["ExpressionAttributeNames"] = {"#ttl": "ttl"}
            update["ExpressionAttributeValues"][":ttl"] = serialize(expires)
        return {"Update": update}

    def _count_request(self, hold: Hold, policy: KeyPolicy) -> dict[str, Any]:
        """The minute's window counts the request (requests < rpm) and, for a tpm key, reserves
        the most tokens it can bill (reserved + bound <= tpm), in the hold's transaction, so
        concurrent holds cannot pass the limit together; the settle corrects the reservation
        to the tokens billed. A request whose bound alone exceeds tpm could never pass."""
        conditions: list[str] = []
        update = "ADD requests :one"
        values = {":one": serialize(1), ":ttl": serialize(_window_ttl(hold))}
        if policy.rpm:
            conditions.append("(attribute_not_exists(requests) OR requests < :rpm)")
            values[":rpm"] = serialize(policy.rpm)
        if policy.tpm:
            if hold.tokens > policy.tpm:
                raise _bound_above_tpm(hold.tokens, policy.tpm)
            conditions.append("(attribute_not_exists(tokens) OR tokens <= :room)")
            update += ", tokens :bound"
            # even a request bounded at 0 tokens needs one token of room, as before
            values[":room"] = serialize(policy.tpm - max(hold.tokens, 1))
            values[":bound"] = serialize(hold.tokens)
        return {
            "Update": {
                "TableName": self.tables.keys,
                "Key": _key(layout.key_pk(hold.key_id), layout.rate_sk(_minute(hold.created_at))),
                "UpdateExpression": f"{update} SET #ttl = if_not_exists(#ttl, :ttl)",
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": values,
            }
        }

    def count_request(self, key_id: str, policy: KeyPolicy, now: datetime) -> None:
        """Count a request that takes no hold (a token count) in an rpm key's minute window,
        the way the hold counts one; RateLimited when the window is full."""
        if not policy.rpm:
            return
        minute = _minute(now)
        update = {
            "TableName": self.tables.keys,
            "Key": _key(layout.key_pk(key_id), layout.rate_sk(minute)),
            "UpdateExpression": "ADD requests :one SET #ttl = if_not_exists(#ttl, :ttl)",
            "ConditionExpression": "attribute_not_exists(requests) OR requests < :rpm",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":one": serialize(1),
                ":rpm": serialize(policy.rpm),
                ":ttl": serialize((minute + 3) * 60),
            },
        }
        try:
            self.dynamodb.call("UpdateItem", update)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                raise _rate_refusal(policy, now) from error
            raise InternalError(TRY_AGAIN) from error

    def _adjust_window(self, hold: Hold, tokens: int) -> dict[str, Any]:
        """Add ``tokens`` (negative: give back) to the hold's minute window; the window keeps
        its expiry, and one already deleted comes back only to expire again."""
        return {
            "Update": {
                "TableName": self.tables.keys,
                "Key": _key(layout.key_pk(hold.key_id), layout.rate_sk(_minute(hold.created_at))),
                "UpdateExpression": "ADD tokens :tokens SET #ttl = if_not_exists(#ttl, :ttl)",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": {
                    ":tokens": serialize(tokens),
                    ":ttl": serialize(_window_ttl(hold)),
                },
            }
        }

    def settle(self, hold: Hold, usage: UsageRecord, policy: KeyPolicy) -> bool:
        """Release the hold, charge ``usage.charge``, add it to the key's spend and the day's
        ledger entry, and write the usage record: one transaction. False when the hold was
        already gone (the reaper released it): nothing is written then. When DynamoDB's answer
        is lost, the record is read back, so True means charged, whatever was lost on the way;
        an outcome that stays unknown raises InternalError."""
        period = _period(hold, policy.spend_cap) if policy.spend_cap is not None else None
        items = self.settle_items(hold, usage, spend_period=period, tpm=bool(policy.tpm))
        return self._take_hold(f"settle:{hold.request_id}", items, usage)

    def settle_items(
        self, hold: Hold, usage: UsageRecord, *, spend_period: str | None, tpm: bool
    ) -> list[dict[str, Any]]:
        """The settle's writes, the hold's delete first: the wallet, the key's spend, the day's
        ledger entry, the usage record and rollup, and the spend counter of ``spend_period``
        and (``tpm``) the rate window corrected to what was billed."""
        account = layout.account_pk(hold.account_id)
        refund = hold.amount - usage.charge
        at = layout.timestamp(usage.created_at)
        items = [
            self._delete_hold(hold),
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
            *self._usage_items(usage),
            self._rollup(usage),
        ]
        if spend_period is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self.tables.keys,
                        "Key": _key(layout.key_pk(hold.key_id), layout.spend_sk(spend_period)),
                        "UpdateExpression": "ADD committed :delta, spent :charge",
                        "ExpressionAttributeValues": {
                            ":delta": serialize(usage.charge - hold.amount),
                            ":charge": serialize(usage.charge),
                        },
                    }
                }
            )
        if tpm:  # the reservation becomes the tokens billed
            billed = usage.input_tokens + usage.output_tokens
            items.append(self._adjust_window(hold, billed - hold.tokens))
        return items

    def expired_holds(self, now: datetime, page_size: int = 100) -> Iterator[Hold]:
        """Holds that expired before ``now``, longest expired first, a page at a time. The
        index is eventually consistent: a hold settled a moment ago may still be listed, and
        its release then finds it gone."""
        query: dict[str, Any] = {
            "TableName": self.tables.wallet,
            "IndexName": HOLDS_BY_EXPIRY_INDEX,
            "KeyConditionExpression": "gsi1pk = :holds AND gsi1sk < :now",
            "ExpressionAttributeValues": {
                ":holds": serialize(layout.HOLDS_BY_EXPIRY),
                ":now": serialize(layout.timestamp(now)),
            },
            "Limit": page_size,
        }
        while True:
            answer = self.call("Query", query)
            for item in answer.get("Items", []):
                yield _hold_from_item(deserialize_item(item))
            if "LastEvaluatedKey" not in answer:
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def release(self, hold: Hold) -> bool:
        """Give an abandoned hold back to the balance, charging nothing, with its ``abandoned``
        usage record, its day's rollup and, for a capped key, the spend reservation given
        back: one transaction. False when the hold was already gone (a settle won: both delete
        it on condition that it exists, so exactly one of them applies)."""
        items = self.release_items(hold, _abandoned_usage(hold))
        return self._take_hold(f"release:{hold.request_id}", items)

    def release_items(self, hold: Hold, usage: UsageRecord) -> list[dict[str, Any]]:
        """A release's writes, the hold's delete first: the whole hold back to the balance,
        ``usage`` (charging nothing) with its rollup, and the hold's spend reservation and
        reserved tokens given back."""
        items = [
            self._delete_hold(hold),
            {
                "Update": {
                    "TableName": self.tables.wallet,
                    "Key": _key(layout.account_pk(hold.account_id), layout.WALLET_SK),
                    "UpdateExpression": "SET balance = balance + :hold, held = held - :hold",
                    "ExpressionAttributeValues": {":hold": serialize(hold.amount)},
                }
            },
            *self._usage_items(usage),
            self._rollup(usage),
        ]
        if hold.spend_period is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self.tables.keys,
                        "Key": _key(layout.key_pk(hold.key_id), layout.spend_sk(hold.spend_period)),
                        "UpdateExpression": "ADD committed :unreserve",
                        "ExpressionAttributeValues": {":unreserve": serialize(-hold.amount)},
                    }
                }
            )
        if hold.tokens:
            items.append(self._adjust_window(hold, -hold.tokens))
        return items

    def _delete_hold(self, hold: Hold) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self.tables.wallet,
                "Key": _key(layout.account_pk(hold.account_id), layout.hold_sk(hold.request_id)),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }

    def _take_hold(
        self, token: str, items: list[dict[str, Any]], usage: UsageRecord | None = None
    ) -> bool:
        """Apply a transaction whose first item deletes the hold: True once it applied, False
        when another took the hold first. For a settle (``usage``, the record it writes), a
        lost answer (a timeout after the request left) or a retry that finds the hold gone
        may hide our own earlier attempt: the usage record, read back, tells."""
        try:
            self.transact(token, items, {0: _HoldGone()})
        except _HoldGone:
            return usage is not None and self.recorded(usage) is True
        except OutcomeUnknown:
            if usage is not None and self.recorded(usage) is True:
                return True
            raise
        return True

    def recorded(self, usage: UsageRecord) -> bool | None:
        """Whether the stored usage record of the request is ``usage`` (None: unreadable)."""
        key = _key(
            layout.account_pk(usage.account_id), layout.usage_sk(usage.created_at, usage.request_id)
        )
        for _ in range(TRANSACTION_ATTEMPTS):
            try:
                answer = self.dynamodb.call(
                    "GetItem",
                    {
                        "TableName": self.tables.metadata,
                        "Key": key,
                        "ConsistentRead": True,
                        "ProjectionExpression": "#status, charge",
                        "ExpressionAttributeNames": {"#status": "status"},
                    },
                )
            except AwsError:
                continue
            item = deserialize_item(answer.get("Item") or {})
            return item.get("status") == usage.status and item.get("charge") == usage.charge
        return None

    def _usage_items(self, usage: UsageRecord) -> list[dict[str, Any]]:
        """The usage record and its pointer by request id (one consistent read finds it)."""
        record = _usage_item(usage)
        pointer = {
            "pk": record["pk"],
            "sk": layout.request_sk(usage.request_id),
            "usage_sk": record["sk"],
            "ttl": record["ttl"],
        }
        return [
            {"Put": {"TableName": self.tables.metadata, "Item": serialize_item(item)}}
            for item in (record, pointer)
        ]

    def _rollup(self, usage: UsageRecord) -> dict[str, Any]:
        """Add the request to its day's rollup for its key and model (what /v1/usage/summary
        reads). The rollup is also the day's entry in the by_request_and_day index, through
        which the archive job finds the accounts active on a day; its index keys are set once,
        so later additions do not write the (keys-only) index again."""
        day = usage.created_at.astimezone(UTC).date()
        expires = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)
        return {
            "Update": {
                "TableName": self.tables.metadata,
                "Key": _key(
                    layout.account_pk(usage.account_id),
                    layout.rollup_sk(day, usage.key_id, usage.model),
                ),
                "UpdateExpression": "ADD requests :one, errors :error, input_tokens :input, "
                "output_tokens :output, charge :charge SET account_id = :account, #day = :day, "
                "key_id = :key, model = :model, gsi1pk = if_not_exists(gsi1pk, :gsi1pk), "
                "gsi1sk = if_not_exists(gsi1sk, :gsi1sk), #ttl = if_not_exists(#ttl, :ttl)",
                "ExpressionAttributeNames": {"#day": "day", "#ttl": "ttl"},
                "ExpressionAttributeValues": {
                    ":one": serialize(1),
                    ":error": serialize(0 if usage.status == "settled" else 1),
                    ":input": serialize(usage.input_tokens),
                    ":output": serialize(usage.output_tokens),
                    ":charge": serialize(usage.charge),
                    ":account": serialize(usage.account_id),
                    ":day": serialize(day.isoformat()),
                    ":key": serialize(usage.key_id),
                    ":model": serialize(usage.model),
                    ":gsi1pk": serialize(layout.usage_day_pk(day)),
                    ":gsi1sk": serialize(f"{layout.account_pk(usage.account_id)}#{usage.key_id}"),
                    ":ttl": serialize(
                        int((expires + layout.USAGE_RETENTION + layout.USAGE_TTL_GRACE).timestamp())
                    ),
                },
            }
        }

    def transact(
        self,
        token: str,
        items: list[dict[str, Any]],
        refusals: dict[int, Exception],
        *,
        applied_if_refused: int | None = None,
    ) -> None:
        """One transaction, retried on conflicts, throttling and lost answers. The client
        request token makes a retry of an applied transaction a no-op (DynamoDB keeps it for
        ten minutes), so a settle is never applied twice."""
        payload = {
            "TransactItems": items,
            "ClientRequestToken": hashlib.sha256(token.encode()).hexdigest()[:36],
        }
        maybe_applied = False  # an earlier attempt's answer was lost after it was sent
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self.dynamodb.call("TransactWriteItems", payload)
                return
            except AwsError as error:
                reasons = [r.get("Code") for r in error.cancellation_reasons or []]
                if maybe_applied and _refused(reasons, applied_if_refused):
                    return  # DynamoDB's token makes a retry a no-op; a local emulator may not
                for index, refusal in refusals.items():
                    if index < len(reasons) and reasons[index] == "ConditionalCheckFailed":
                        raise refusal from error
                lost = error.code in ("Timeout", "ConnectionError") and not error.retryable
                maybe_applied = maybe_applied or lost
                if not (error.retryable or lost) or attempt + 1 == TRANSACTION_ATTEMPTS:
                    if maybe_applied:
                        raise OutcomeUnknown(TRY_AGAIN) from error
                    raise InternalError(TRY_AGAIN) from error
                time.sleep(random.uniform(0, 0.025 * 2**attempt))

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.dynamodb.call(operation, payload)
        except AwsError as error:
            raise InternalError("The request could not be completed; try again.") from error


class _HoldGone(Exception):
    """The settle or the release found no hold to take."""


class OutcomeUnknown(InternalError):
    """A transaction's answer was lost after it was sent: it may or may not have applied."""


def _refused(reasons: list[str | None], index: int | None) -> bool:
    return index is not None and index < len(reasons) and reasons[index] == "ConditionalCheckFailed"


def _policy(item: dict[str, Any]) -> KeyPolicy:
    cap = item.get("spend_cap")
    return KeyPolicy(
        environment=item.get("environment") or "",
        allowed_models=tuple(item["allowed_models"]) if item.get("allowed_models") else None,
        allowed_endpoints=tuple(item["allowed_endpoints"])
        if item.get("allowed_endpoints")
        else None,
        allowed_cidrs=tuple(item["allowed_cidrs"]) if item.get("allowed_cidrs") else None,
        expires_at=layout.parse_timestamp(item.get("expires_at")),
        spend_cap=SpendCap(cap, item["spend_cap_period"]) if cap is not None else None,
        rpm=item.get("rpm"),
        tpm=item.get("tpm"),
        allowed_origins=tuple(item["allowed_origins"]) if item.get("allowed_origins") else None,
        require_no_training=bool(item.get("require_no_training")),
    )


def _period(hold: Hold, cap: SpendCap) -> str:
    return spend_period(cap, hold.created_at)


def _minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


def _window_ttl(hold: Hold) -> int:
    return (_minute(hold.created_at) + 3) * 60


def _bound_above_tpm(tokens: int, tpm: int) -> BadRequest:
    return BadRequest(
        f"This request may bill up to {tokens} tokens (its input plus max_tokens), more than "
        f"this API key's limit of {tpm} tokens per minute: lower max_tokens or the input.",
        code="request_above_tpm",
        param="max_tokens",
    )


def _key_in_force(table: str, key_pk: str, now: datetime, key: KeyRecord | None) -> dict[str, Any]:
    """The key is active and unexpired and, when the caller read it at a revision, still at
    that revision (a key written before revisions existed has none, which is revision 0)."""
    condition = "#status = :active AND (attribute_not_exists(expires_at) OR expires_at > :now)"
    values = {
        ":active": serialize("active"),
        ":now": serialize(layout.timestamp(now)),
    }
    if key is not None:
        unchanged = "revision = :revision"
        if key.revision == 0:
            unchanged = f"({unchanged} OR attribute_not_exists(revision))"
        condition += f" AND {unchanged}"
        values[":revision"] = serialize(key.revision)
    return {
        "TableName": table,
        "Key": _key(key_pk, layout.KEY_SK),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
    }


def _account_active(table: str, account_pk: str) -> dict[str, Any]:
    """The key's account is active: not suspended by the operator, not scheduled for
    deletion (whose keys are revoked as well, and refused as such first)."""
    return {
        "TableName": table,
        "Key": _key(account_pk, layout.ACCOUNT_SK),
        "ConditionExpression": "#status = :active",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":active": serialize("active")},
    }


def account_suspended() -> AccountSuspended:
    return AccountSuspended(
        "This account is suspended by the operator: its API keys are refused until it is "
        "reinstated."
    )


def _secret_good(table: str, key: KeyRecord, now: datetime) -> dict[str, Any]:
    """The presented secret still opens the key: not deleted, not rotated out at or before
    ``now``."""
    return {
        "TableName": table,
        "Key": _key(layout.secret_pk(key.digest), layout.SECRET_SK),
        "ConditionExpression": "key_id = :key AND "
        "(attribute_not_exists(grace_until) OR grace_until > :now)",
        "ExpressionAttributeValues": {
            ":key": serialize(key.key_id),
            ":now": serialize(layout.timestamp(now)),
        },
    }


def _key_refusal(policy: KeyPolicy, now: datetime, *, changed: bool) -> Unauthenticated:
    refusal = KeyChanged if changed else Unauthenticated
    if policy.expires_at is not None and policy.expires_at <= now:
        return refusal("This API key has expired.", code="key_expired")
    return refusal("This API key has been revoked.", code="key_revoked")


def _rotated_out() -> KeyChanged:
    return KeyChanged("This API key was rotated; use its new secret.", code="key_rotated")


def _cap_refusal(cap: SpendCap) -> PaymentRequired:
    return PaymentRequired(
        f"This API key has reached its {cap.period} spend cap of {format_usd(cap.amount)} USD.",
        code="key_spend_cap_reached",
    )


def _rate_refusal(policy: KeyPolicy, now: datetime) -> RateLimited:
    limits = ", ".join(
        f"{value} {unit} per minute"
        for value, unit in ((policy.rpm, "requests"), (policy.tpm, "tokens"))
        if value
    )
    return RateLimited(
        f"This API key's rate limit ({limits}) is reached; retry after the minute turns.",
        retry_after_seconds=60 - now.second,
    )


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _hold_item(hold: Hold, policy: KeyPolicy) -> dict[str, Any]:
    expires = layout.timestamp(hold.expires_at)
    item = {
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
        "endpoint": hold.endpoint,
    }
    if policy.spend_cap is not None:  # the reaper gives the reservation back to this counter
        item["spend_period"] = _period(hold, policy.spend_cap)
    if policy.tpm:  # ... and these tokens back to the hold's rate window
        item["tokens"] = hold.tokens
    return item


def _hold_from_item(item: dict[str, Any]) -> Hold:
    return Hold(
        request_id=item["request_id"],
        account_id=item["account_id"],
        key_id=item["key_id"],
        model=item["model"],
        amount=item["amount"],
        created_at=layout.parse_required_timestamp(item["created_at"]),
        expires_at=layout.parse_required_timestamp(item["expires_at"]),
        endpoint=item.get("endpoint") or "",
        spend_period=item.get("spend_period"),
        tokens=item.get("tokens") or 0,
    )


def _abandoned_usage(hold: Hold) -> UsageRecord:
    """The record a settle would have written at the same place (its sort key is the hold's
    creation time), saying only what the hold knew: no tokens, no charge, no upstream answer.
    Nothing in it depends on when the reaper ran, so a retried release sends the same
    transaction and its client request token makes the retry a no-op."""
    return UsageRecord(
        request_id=hold.request_id,
        account_id=hold.account_id,
        key_id=hold.key_id,
        model=hold.model,
        requested_model=hold.model,
        provider=hold.model.partition("/")[0],
        upstream_model="",
        route=0,
        endpoint=hold.endpoint,
        stream=False,
        status_code=0,  # no answer is known to have reached the client
        status=ABANDONED,
        created_at=hold.created_at,
        error_type=ABANDONED,
        hold=hold.amount,
        charge=0,
    )


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
        gsi1pk=layout.request_pk(usage.request_id),
        gsi1sk="USAGE",
        ttl=int((usage.created_at + layout.USAGE_RETENTION + layout.USAGE_TTL_GRACE).timestamp()),
    )
    return item
