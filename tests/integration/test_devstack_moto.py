"""devstack's moto: transactions roll back item by item, atomically, without copying tables."""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack import moto_dynamodb

TABLE = "soak"
PAD = "x" * 1000


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A pk/sk table in moto, with devstack's transaction patch installed."""
    moto_dynamodb.install()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            yield client
    finally:
        moto_dynamodb.uninstall()


def key(pk: str, sk: str = "ITEM") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def put(client: Any, pk: str, **attributes: int) -> None:
    item = {**key(pk), **{name: {"N": str(value)} for name, value in attributes.items()}}
    client.put_item(TableName=TABLE, Item=item)


def read(client: Any, pk: str) -> dict[str, Any] | None:
    return client.get_item(TableName=TABLE, Key=key(pk)).get("Item")


def spend(amount: int, *, new: str, wallet: str, hold: str, guard: str) -> list[dict[str, Any]]:
    """A put, an update, a delete, then a condition on a fourth item."""
    return [
        {"Put": {"TableName": TABLE, "Item": {**key(new), "n": {"N": "1"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": key(wallet),
                "UpdateExpression": "SET balance = balance - :a",
                "ExpressionAttributeValues": {":a": {"N": str(amount)}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": key(hold)}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key(guard),
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]


def test_a_transaction_whose_last_condition_fails_leaves_its_first_items_unwritten(dynamodb):
    # Given a wallet and a hold, and no guard item
    put(dynamodb, "wallet", balance=100)
    put(dynamodb, "hold", held=30)

    # When a transaction puts, updates and deletes, then fails its last condition
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=spend(30, new="record", wallet="wallet", hold="hold", guard="missing")
        )

    # Then it is cancelled for that reason alone, and nothing it did before stays written
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert read(dynamodb, "record") is None
    assert read(dynamodb, "wallet")["balance"] == {"N": "100"}
    assert read(dynamodb, "hold")["held"] == {"N": "30"}


def test_a_transaction_whose_conditions_hold_writes_every_item(dynamodb):
    put(dynamodb, "wallet", balance=100)
    put(dynamodb, "hold", held=30)
    put(dynamodb, "guard")

    dynamodb.transact_write_items(
        TransactItems=spend(30, new="record", wallet="wallet", hold="hold", guard="guard")
    )

    assert read(dynamodb, "record")["n"] == {"N": "1"}
    assert read(dynamodb, "wallet")["balance"] == {"N": "70"}
    assert read(dynamodb, "hold") is None


def test_a_transaction_on_a_new_partition_rolls_back_without_leaving_it_behind(dynamodb):
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("fresh")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("missing"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    assert dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_the_memory_a_transaction_takes_does_not_grow_with_the_table(dynamodb):
    # Given a table of 2,000 items of 1 KB (usage records pile up like this on devstack)
    for start in range(0, 2000, 25):
        dynamodb.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": {**key("usage", f"{n:05}"), "pad": {"S": PAD}}}}
                    for n in range(start, start + 25)
                ]
            }
        )
    put(dynamodb, "wallet", balance=10_000)
    put(dynamodb, "guard")

    # When transactions run, one committed and one cancelled
    tracemalloc.start()
    try:
        for n, guard in enumerate(("guard", "missing")):
            put(dynamodb, f"hold{n}", held=1)
            with contextlib.suppress(ClientError):
                dynamodb.transact_write_items(
                    TransactItems=spend(
                        1, new=f"r{n}", wallet="wallet", hold=f"hold{n}", guard=guard
                    )
                )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then none of them needed memory in proportion to the table's 2 MB
    assert peak < 1_000_000


def test_items_updated_and_queried_many_times_do_not_pile_up_in_memory(dynamodb):
    # Given one item of about 1 KB
    dynamodb.put_item(TableName=TABLE, Item={**key("wallet"), "n": {"N": "0"}, "pad": {"S": PAD}})
    update = {
        "TableName": TABLE,
        "Key": key("wallet"),
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "wallet"}},
    }
    dynamodb.update_item(**update)
    dynamodb.query(**query)
    gc.collect()

    # When it is updated and queried 300 times (moto copies it each time)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(300):
            dynamodb.update_item(**update)
            dynamodb.query(**query)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the copies are freed: far less is kept than 300 copies of the item would take
    assert after - before < 200_000
