"""The finished requests the proxy's Lambda extension waits for: claimed once, and bounded."""

from __future__ import annotations

from tollgate.proxy.lambda_extension import FinishedRequests


def test_a_finished_request_is_claimed_once():
    finished = FinishedRequests()
    finished.add("invocation-1")

    assert finished.claim("invocation-1", timeout=0) is True
    assert finished.claim("invocation-1", timeout=0) is False


def test_finished_requests_no_invocation_claims_are_forgotten_oldest_first():
    # given more finished requests than are remembered, none of them claimed
    finished = FinishedRequests(limit=3)
    for number in range(5):
        finished.add(f"invocation-{number}")

    # then only the newest are still there
    assert [finished.claim(f"invocation-{n}", timeout=0) for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
