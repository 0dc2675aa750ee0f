"""The bench counts a request's DynamoDB calls from the emulator's log, by the client's clock."""

import json
from pathlib import Path

from bench.dynamodb_log import PerRequest, read_calls
from bench.measure import Overhead, Timing


def logged(path: Path, *lines: tuple[str, float, float]) -> None:
    path.write_text(
        "".join(
            json.dumps({"op": op, "received": at, "started": at, "answered": done}) + "\n"
            for op, at, done in lines
        )
    )


def request(sent: float, answered: float) -> Timing:
    ms = (answered - sent) * 1000
    return Timing(sent=sent, answered=answered, first_byte_ms=ms, answer_ms=ms, total_ms=ms)


def test_a_settle_under_way_as_the_client_reads_its_answer_was_not_waited_for(
    tmp_path: Path,
) -> None:
    # Given a request sent at 100.000 whose whole answer the client had at 100.050: the hold
    # ran before the answer, the settle arrived at 100.048 (the server had sent the answer,
    # the client was still reading it) and finished at 100.060; S3 also logged a line
    logged(
        tmp_path / "dynamodb.jsonl",
        ("TransactWriteItems", 100.005, 100.015),
        ("s3:PutObject", 100.020, 100.021),
        ("TransactWriteItems", 100.048, 100.060),
        ("TransactWriteItems", 100.305, 100.315),  # the next request's hold
    )
    first, second = request(100.000, 100.050), request(100.300, 100.350)

    # When the bench matches the emulator's calls to the requests
    per = PerRequest.match(read_calls(tmp_path), [first, second], until=101.0)

    # Then both transactions arrived while the client waited, but only the hold was answered
    # before it had its answer; the request made two DynamoDB calls in all, S3 not counted
    assert [len(calls) for calls in per.critical] == [2, 1]
    assert [len(calls) for calls in per.waited] == [1, 1]
    assert [len(calls) for calls in per.total] == [2, 1]
    assert [round(ms, 3) for ms in per.waited_ms()] == [10.0, 10.0]
    assert "1 call (TransactWriteItems) in 2/2 requests" in PerRequest.distribution(per.waited)


def test_the_overhead_is_the_difference_of_the_two_sides_percentiles() -> None:
    # Given gateway and direct latencies measured in turns
    gateway = [32.0, 30.0, 90.0, 31.0, 33.0]
    direct = [5.0, 4.0, 6.0, 40.0, 7.0]

    # When the overhead is computed
    overhead = Overhead.of(gateway, direct)

    # Then it is percentile(gateway) - percentile(direct), not a percentile of differences
    assert (overhead.gateway_p50, overhead.direct_p50, overhead.p50) == (32.0, 6.0, 26.0)
    assert (overhead.gateway_p99, overhead.direct_p99, overhead.p99) == (90.0, 40.0, 50.0)
