"""A provider served by a server of the user's choice: the mock upstreams run alone
(`python -m devstack.upstreams`), and devstack points a provider at them with
`--upstream KIND=URL --upstream-key KIND=KEY`, as a benchmark does to put Tollgate and another
gateway in front of the same upstream."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import read_contract, running_devstack
from tests.e2e.stack import HTTP_TIMEOUT_S, ROOT

pytestmark = pytest.mark.e2e

EXTERNAL_KEY = "sk-external-upstream"
STOP_BOUND_SECONDS = 20  # a liveness bound, not a performance figure
HI = [{"role": "user", "content": "Hi"}]


@contextlib.contextmanager
def mock_upstreams_alone(*options: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.upstreams", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, read_contract(process, ready="mock upstreams ready")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_mock_upstreams_run_alone_with_the_key_given_until_sigterm():
    # Given the mock upstreams started alone with an OpenAI key
    with mock_upstreams_alone("--port", "0", "--key", f"openai={EXTERNAL_KEY}") as (process, out):
        # When an OpenAI client asks them with that key
        client = openai.OpenAI(base_url=out["MOCK_OPENAI_URL"], api_key=EXTERNAL_KEY)
        answer = client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=HI)

        # Then they answer, print every provider's URL and key, and stop on SIGTERM
        assert answer.choices[0].message.content
        assert out["MOCK_OPENAI_KEY"] == EXTERNAL_KEY
        assert {"MOCK_ANTHROPIC_URL", "MOCK_ANTHROPIC_KEY", "MOCK_GEMINI_URL"} <= out.keys()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_BOUND_SECONDS) == 0


def test_a_provider_pointed_at_an_external_upstream_is_served_by_it(tmp_path: Path):
    # Given mock upstreams running alone, which accept only their own key
    with mock_upstreams_alone("--key", f"openai={EXTERNAL_KEY}") as (_, upstream):
        # And devstack pointing OpenAI at them with that key
        options = ["--upstream", f"openai={upstream['MOCK_OPENAI_URL']}"]
        options += ["--upstream-key", f"openai={EXTERNAL_KEY}"]
        with running_devstack(tmp_path, *options) as devstack:
            # When the demo account asks for an OpenAI model through Tollgate
            answer = httpx.post(
                f"{devstack['OPENAI_BASE_URL']}/chat/completions",
                headers={"Authorization": f"Bearer {devstack['TOLLGATE_API_KEY']}"},
                json={"model": "openai/gpt-4o-mini", "messages": HI},
                timeout=HTTP_TIMEOUT_S,
            )

    # Then the external server served it: devstack's own mock, which does not know that key,
    # would have refused it, and the answer would have come from the Gemini fallback
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "openai/gpt-4o-mini"
    assert float(answer.headers["x-tollgate-cost"]) > 0
