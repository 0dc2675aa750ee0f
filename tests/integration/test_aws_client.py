"""The standard-library AWS client against moto in server mode (real HTTP, real connections),
plus scripted sockets for the connection-failure rules. moto does not check signatures: the
signer is compared with botocore's in tests/unit/test_aws_sigv4.py."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tollgate.aws import AwsError, Credentials, dynamodb_client, secrets_client
from tollgate.aws.dynamodb_json import deserialize_item, serialize_item

REGION = "us-east-1"
TABLE = "ClientTestTable"
SECRET = "tollgate/client-test"
CREDENTIALS = Credentials("testing", "testing", "testing")


class KeepAliveFront(http.server.ThreadingHTTPServer):
    """Forwards to moto, keeping client connections open: moto's werkzeug server closes every
    connection after one response, which would hide whether the client reuses them."""

    daemon_threads = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), ForwardingHandler)
        self.upstream = upstream
        self.connections_accepted = 0

    def process_request(self, request, client_address) -> None:
        self.connections_accepted += 1
        super().process_request(request, client_address)


class ForwardingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveFront

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        upstream = http.client.HTTPConnection(*self.server.upstream)
        upstream.request("POST", self.path, body, dict(self.headers))
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in {"connection", "content-length", "date", "server"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    create_table_and_secret(url)
    yield url
    server.stop()


@pytest.fixture
def front(moto_url) -> Iterator[KeepAliveFront]:
    host, _, port = moto_url.removeprefix("http://").partition(":")
    server = KeepAliveFront((host, int(port)))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(front) -> str:
    host, port = front.server_address[:2]
    return f"http://{host}:{port}"


def create_table_and_secret(url: str) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    session.client("dynamodb", endpoint_url=url).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    session.client("secretsmanager", endpoint_url=url).create_secret(
        Name=SECRET, SecretString="operator-digest-1,operator-digest-2"
    )


@pytest.fixture
def dynamodb(endpoint):
    return dynamodb_client(REGION, CREDENTIALS, endpoint)


def put(dynamodb, item: dict) -> None:
    dynamodb.call("PutItem", {"TableName": TABLE, "Item": serialize_item(item)})


def get(dynamodb, pk: str, sk: str) -> dict | None:
    answer = dynamodb.call(
        "GetItem",
        {"TableName": TABLE, "Key": serialize_item({"pk": pk, "sk": sk}), "ConsistentRead": True},
    )
    return deserialize_item(answer["Item"]) if "Item" in answer else None


def test_put_item_is_read_back_consistently(dynamodb):
    item = {"pk": "WALLET#a1", "sk": "WALLET", "balance": 5_000_000_000, "held": 0}

    put(dynamodb, item)

    assert get(dynamodb, "WALLET#a1", "WALLET") == item


def test_query_on_a_secondary_index_finds_items(dynamodb):
    for n in range(3):
        put(dynamodb, {"pk": f"KEY#k{n}", "sk": "KEY", "gsi1pk": "ACCOUNT#q1", "gsi1sk": f"{n}"})

    answer = dynamodb.call(
        "Query",
        {
            "TableName": TABLE,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :account",
            "ExpressionAttributeValues": serialize_item({":account": "ACCOUNT#q1"}),
        },
    )

    assert [deserialize_item(i)["pk"] for i in answer["Items"]] == ["KEY#k0", "KEY#k1", "KEY#k2"]


def test_update_with_add_increments_a_counter(dynamodb):
    put(dynamodb, {"pk": "RATE#k1", "sk": "WINDOW#1", "count": 4})

    answer = dynamodb.call(
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": serialize_item({"pk": "RATE#k1", "sk": "WINDOW#1"}),
            "UpdateExpression": "ADD #count :one",
            "ExpressionAttributeNames": {"#count": "count"},
            "ExpressionAttributeValues": serialize_item({":one": 1}),
            "ReturnValues": "UPDATED_NEW",
        },
    )

    assert deserialize_item(answer["Attributes"]) == {"count": 5}


def hold_transaction(account: str, amount: int) -> list[dict]:
    """Move ``amount`` from balance to held, on condition the balance covers it, and record
    the hold: the shape of the proxy's hold step."""
    return [
        {
            "Update": {
                "TableName": TABLE,
                "Key": serialize_item({"pk": f"WALLET#{account}", "sk": "WALLET"}),
                "UpdateExpression": "ADD balance :minus, held :plus",
                "ConditionExpression": "balance >= :plus",
                "ExpressionAttributeValues": serialize_item({":minus": -amount, ":plus": amount}),
            }
        },
        {
            "Put": {
                "TableName": TABLE,
                "Item": serialize_item(
                    {"pk": f"WALLET#{account}", "sk": f"HOLD#{amount}", "amount": amount}
                ),
            }
        },
    ]


def test_transaction_applies_every_item(dynamodb):
    put(dynamodb, {"pk": "WALLET#t1", "sk": "WALLET", "balance": 100, "held": 0})

    dynamodb.call("TransactWriteItems", {"TransactItems": hold_transaction("t1", 30)})

    assert get(dynamodb, "WALLET#t1", "WALLET")["balance"] == 70
    assert get(dynamodb, "WALLET#t1", "HOLD#30") is not None


def test_failed_condition_cancels_the_transaction_with_reasons_per_item(dynamodb):
    put(dynamodb, {"pk": "WALLET#t2", "sk": "WALLET", "balance": 10, "held": 0})
    items = [
        {"Put": {"TableName": TABLE, "Item": serialize_item({"pk": "AUDIT#t2", "sk": "1"})}},
        *hold_transaction("t2", 30),
    ]

    with pytest.raises(AwsError) as raised:
        dynamodb.call("TransactWriteItems", {"TransactItems": items})

    assert raised.value.code == "TransactionCanceledException"
    assert [r["Code"] for r in raised.value.cancellation_reasons] == [
        "None",
        "ConditionalCheckFailed",
        "None",
    ]
    assert raised.value.retryable is False
    assert get(dynamodb, "WALLET#t2", "WALLET")["balance"] == 10
    assert get(dynamodb, "AUDIT#t2", "1") is None


def test_secret_value_is_read(endpoint):
    secrets = secrets_client(REGION, CREDENTIALS, endpoint)

    answer = secrets.call("GetSecretValue", {"SecretId": SECRET})

    assert answer["SecretString"] == "operator-digest-1,operator-digest-2"


def test_unknown_table_raises_resource_not_found(dynamodb):
    with pytest.raises(AwsError) as raised:
        dynamodb.call("GetItem", {"TableName": "NoSuchTable", "Key": serialize_item({"pk": "x"})})

    assert raised.value.code == "ResourceNotFoundException"
    assert raised.value.status == 400
    assert raised.value.retryable is False


def test_concurrent_calls_from_threads_succeed(dynamodb):
    def write_then_read(n: int) -> dict | None:
        put(dynamodb, {"pk": f"CONCURRENT#{n}", "sk": "ITEM", "n": n})
        return get(dynamodb, f"CONCURRENT#{n}", "ITEM")

    with ThreadPoolExecutor(max_workers=20) as pool:
        items = list(pool.map(write_then_read, range(20)))

    assert [item["n"] for item in items] == list(range(20))


def test_each_thread_keeps_its_own_connection(dynamodb, front):
    threads_used = set()

    def write(n: int) -> None:
        threads_used.add(threading.get_ident())
        for m in range(3):
            put(dynamodb, {"pk": f"PER_THREAD#{n}", "sk": f"{m}"})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(12)))

    assert dynamodb.connections_opened == len(threads_used) == front.connections_accepted


def test_calls_on_one_thread_reuse_one_connection(dynamodb, front):
    for n in range(5):
        put(dynamodb, {"pk": f"REUSE#{n}", "sk": "ITEM"})

    assert dynamodb.connections_opened == front.connections_accepted == 1


def test_calls_still_succeed_when_the_server_closes_every_connection(moto_url):
    client = dynamodb_client(REGION, CREDENTIALS, moto_url)

    for _ in range(3):
        client.call("DescribeTable", {"TableName": TABLE})

    assert client.connections_opened == 3


# Connection failures, against scripted sockets.

Script = Callable[["ScriptedServer", socket.socket], None]


class ScriptedServer:
    """Accepts connections on 127.0.0.1, runs the next script on each, counts requests."""

    def __init__(self, *scripts: Script) -> None:
        self.requests = 0
        self.closed = threading.Semaphore(0)  # released each time a connection is closed
        self._scripts = list(scripts)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self._listener:
            for script in self._scripts:
                connection, _ = self._listener.accept()
                with connection:
                    script(self, connection)
                self.closed.release()

    def read_request(self, connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += connection.recv(65536)
        self.requests += 1


def respond(server: ScriptedServer, connection: socket.socket) -> None:
    server.read_request(connection)
    body = b'{"ok":true}'
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def test_connection_closed_by_the_server_while_idle_is_replaced():
    server = ScriptedServer(respond, respond)  # one answer per connection, then close
    client = dynamodb_client(REGION, CREDENTIALS, server.url)
    client.call("GetItem", {})
    assert server.closed.acquire(timeout=60)  # a deadline, generous for a loaded machine

    assert client.call("GetItem", {}) == {"ok": True}
    assert (client.connections_opened, server.requests) == (2, 2)


def test_keep_alive_dropped_before_any_response_is_retried_once_on_a_new_connection():
    def respond_then_drop_the_next_request(server, connection):
        respond(server, connection)
        server.read_request(connection)  # the next request arrives: hang up without answering

    server = ScriptedServer(respond_then_drop_the_next_request, respond)
    client = dynamodb_client(REGION, CREDENTIALS, server.url)
    client.call("GetItem", {})

    assert client.call("GetItem", {}) == {"ok": True}
    assert client.connections_opened == 2


def test_fresh_connection_dropped_after_sending_is_not_retried():
    def read_and_hang_up(server, connection):
        server.read_request(connection)

    server = ScriptedServer(read_and_hang_up, read_and_hang_up)
    client = dynamodb_client(REGION, CREDENTIALS, server.url)

    with pytest.raises(AwsError) as raised:
        client.call("PutItem", {})

    assert (raised.value.code, raised.value.retryable) == ("ConnectionError", False)
    assert (client.connections_opened, server.requests) == (1, 1)


def test_timeout_after_sending_may_have_been_applied():
    release = threading.Event()

    def read_and_stall(server, connection):
        server.read_request(connection)
        release.wait(60)  # never answers in time: the test releases it once the client gave up

    server = ScriptedServer(read_and_stall)
    client = dynamodb_client(REGION, CREDENTIALS, server.url, timeout=0.2)

    with pytest.raises(AwsError) as raised:
        client.call("PutItem", {})
    release.set()

    assert (raised.value.code, raised.value.retryable) == ("Timeout", False)


def test_refused_connection_is_retryable_because_nothing_was_sent():
    # a port bound but not listening refuses, and no other process can take it meanwhile
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        client = dynamodb_client(REGION, CREDENTIALS, f"http://127.0.0.1:{port}")

        with pytest.raises(AwsError) as raised:
            client.call("GetItem", {})

    assert (raised.value.code, raised.value.retryable) == ("ConnectionError", True)
