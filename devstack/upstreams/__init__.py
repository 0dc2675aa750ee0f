"""Mock upstream model providers for the local stack.

One pure ASGI app (``create_app``) speaks the OpenAI (``/openai/v1``), Anthropic
(``/anthropic``) and Gemini (``/gemini``) wire formats with deterministic answers, real
streaming, tool calls, usage, and per-request fault and latency injection;
``start_upstreams`` serves it with uvicorn in a background thread.

- ``common``: the deterministic rules (reply text, token counting, tool-call trigger).
- ``controls``: fault / latency / usage injection by header or ``[[mock:...]]`` marker.
- ``app``: the ASGI app, router and the shared answer/stream/fault machinery.
- ``openai_api`` (and ``openai_responses_api``, its Responses API), ``anthropic_api``,
  ``gemini_api``: the three wire formats.
- ``video_jobs``: the video jobs' state machine; ``mp4``: the small MP4 they deliver.
- ``server``: ``start_upstreams`` / ``RunningUpstreams``.
"""

from devstack.upstreams.app import MockUpstreams, create_app
from devstack.upstreams.controls import FAULTS
from devstack.upstreams.server import RunningUpstreams, start_upstreams

__all__ = ["FAULTS", "MockUpstreams", "RunningUpstreams", "create_app", "start_upstreams"]
