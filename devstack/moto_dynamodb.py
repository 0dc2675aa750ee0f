"""moto's DynamoDB, made to hold steady in a stack that runs for hours.

Transactions are rolled back item by item instead of table by table. moto 5.2's
``transact_write_items`` deep-copies every table a transaction names before it runs the
actions, so that a cancelled transaction can put the copies back. The cost grows with the
tables: on devstack, where every chat request runs two transactions on tables that keep every
usage record, it reached about 3.5 MB and several milliseconds per transaction after a few
hundred requests. Here moto's own ``transact_write_items`` still runs every action, checks
every condition and raises the same errors, but the tables are not copied: the items the
transaction names are, before it starts, and a failed transaction puts exactly those back.
Nothing else can change meanwhile: devstack's moto serves one request at a time.

Items are not tracked. Every moto model instance is appended to its class's
``instances_tracked`` list, for moto's dashboard, and never removed: every item ever written,
read back by a query or copied for an update stayed in memory (about 30 KB per chat request).
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_MOTO_TRANSACT_WRITE_ITEMS: Callable[..., None] = DynamoDBBackend.transact_write_items


def _deepcopy_except_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


# What moto's DynamoDB backend module sees as `copy` once installed: tables are "copied" by
# reference (the transaction's snapshot is then the live table, and its rollback a no-op).
_COPY_WITHOUT_TABLES = types.SimpleNamespace(
    **{name: getattr(copy, name) for name in ("copy", "Error")},
    deepcopy=_deepcopy_except_tables,
)


@dataclass
class SavedItem:
    """One item as it was before a transaction: None when it did not exist."""

    table: Table
    hash_value: DynamoType
    range_value: DynamoType | None
    item: Item | None

    def restore(self) -> None:
        items: Any = self.table.items  # moto: {hash: Item} or {hash: {range: Item}}
        if self.range_value is None:
            if self.item is None:
                items.pop(self.hash_value, None)
            else:
                items[self.hash_value] = self.item
            return
        ranges = items.get(self.hash_value)
        if self.item is not None:
            items[self.hash_value][self.range_value] = self.item
        elif ranges is not None:
            ranges.pop(self.range_value, None)
            if not ranges:
                items.pop(self.hash_value, None)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = [found for action in transact_items if (found := _save(self, action)) is not None]
    try:
        _MOTO_TRANSACT_WRITE_ITEMS(self, transact_items)
    except Exception:
        for item in reversed(saved):
            item.restore()
        raise


def _save(backend: DynamoDBBackend, action: dict[str, Any]) -> SavedItem | None:
    """The item an action names, copied; None when the action is malformed (moto then refuses
    the transaction before it writes anything)."""
    try:
        kind, operation = next(iter(action.items()))
        table = backend.tables[operation["TableName"]]
        key = operation["Item"] if kind == "Put" else operation["Key"]
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    except (AttributeError, KeyError, StopIteration, TypeError):
        return None
    # Read the items themselves: Table.get_item would add an empty partition for a new key.
    items: Any = table.items
    if range_value is None:
        current = items.get(hash_value)
    else:
        current = items.get(hash_value, {}).get(range_value)
    return SavedItem(table, hash_value, range_value, copy.deepcopy(current))


class _Untracked(list[Any]):
    """An ``instances_tracked`` that keeps nothing."""

    def append(self, instance: Any) -> None:
        pass


def install() -> None:
    """Make moto's DynamoDB transactions copy items, not tables, and stop moto keeping every
    item it ever made (idempotent)."""
    dynamodb_models.copy = _COPY_WITHOUT_TABLES  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Item.instances_tracked = _Untracked()  # type: ignore[attr-defined]


def uninstall() -> None:
    dynamodb_models.copy = copy
    DynamoDBBackend.transact_write_items = _MOTO_TRANSACT_WRITE_ITEMS  # type: ignore[method-assign]
    Item.instances_tracked = []  # type: ignore[attr-defined]
