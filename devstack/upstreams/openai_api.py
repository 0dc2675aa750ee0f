"""OpenAI wire format under ``/openai/v1``: chat completions, embeddings, images, models,
videos; the same without keys under ``/openai_compatible/v1`` (a keyless local server).

Auth is ``Authorization: Bearer <key>``; errors are ``{"error": {"message", "type",
"param", "code"}}``. Streams are ``data: {...}`` chunks ending with ``data: [DONE]``: a
first chunk with the role, one chunk per token (or per slice of tool arguments), a chunk
with the finish reason and, when ``stream_options.include_usage`` is true, a last chunk
with empty ``choices`` and the usage (earlier chunks then carry ``"usage": null``).
Tool calls follow ``common.choose_tool``; ``tool_choice`` "required" or a named function
forces one, "none" forbids it. ``response_format`` ``json_schema`` or ``json_object`` makes
the content ``common.json_reply``. ``n`` (1..128) gives n identical choices, whose stream
deltas interleave (each chunk one choice, with its index); usage counts every choice.
Embeddings have 16 dimensions unless ``dimensions`` is given. Images are 1x1 PNGs whose
colour comes from the prompt. Videos are ``video_jobs`` jobs created from a multipart (as
the SDK sends it) or JSON body; their content is the job's MP4 (``variant=thumbnail``: a
grey 1x1 PNG) while the job's file lasts.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import re
import time
from typing import Any

from devstack.upstreams import common, video_jobs
from devstack.upstreams.app import (
    Exchange,
    Route,
    answer,
    controls_or_400,
    dumps,
    new_id,
    prelude,
    stream,
)
from devstack.upstreams.controls import Controls, strip_markers
from devstack.upstreams.mp4 import mp4_video

KIND = "openai"
# The same API without keys, as a local OpenAI-compatible server (e.g. vLLM) serves it.
COMPATIBLE_KIND = "openai_compatible"
FINGERPRINT = "fp_tollgate_mock"
_FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}
_MODELS = (
    ("gpt-4o", "system"),
    ("gpt-4o-mini", "system"),
    ("gpt-4.1", "system"),
    ("gpt-4.1-mini", "system"),
    ("o4-mini", "system"),
    ("text-embedding-3-small", "system"),
    ("text-embedding-3-large", "system"),
    ("gpt-image-1", "system"),
    ("dall-e-3", "system"),
)
_MODELS_CREATED = 1_715_367_049
_FAULTS = {
    "500": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    "429": (
        429,
        "Rate limit reached for requests per min (RPM). Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    "overloaded": (
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        None,
    ),
}


def error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None, param=None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def send_error(
    exchange: Exchange,
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    await exchange.send_json(
        status,
        error_body(message, type_, code, param),
        [("x-request-id", new_id("req_")), *(headers or [])],
    )


async def send_fault(exchange: Exchange, fault: str) -> None:
    status, message, type_, code = _FAULTS[fault]
    headers = [("retry-after", "1"), ("x-ratelimit-reset-requests", "1s")] if status == 429 else []
    await send_error(exchange, status, message, type_, code, headers=headers)


async def send_not_found(exchange: Exchange, what: str) -> None:
    if what == "method":
        await send_error(exchange, 405, f"Method {exchange.method} not allowed on this path.")
    else:
        await send_error(exchange, 404, f"Invalid URL ({exchange.method} {exchange.path})")


async def authorised(exchange: Exchange) -> bool:
    if kind_of(exchange) == COMPATIBLE_KIND:
        return True
    authorization = exchange.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        await send_error(
            exchange,
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
        return False
    if token.strip() != exchange.app.api_keys.get(KIND):
        await send_error(exchange, 401, "Incorrect API key provided.", code="invalid_api_key")
        return False
    return True


async def json_object(exchange: Exchange) -> dict[str, Any] | None:
    body = exchange.json_object()
    if body is None:
        await send_error(exchange, 400, "We could not parse the JSON body of your request.")
        return None
    return body


async def request_controls(exchange: Exchange, text: str) -> Controls | None:
    return await controls_or_400(exchange, text, send_error)


# -- chat completions -------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _prompt_texts(messages: list[Any]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        texts.append(_content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                texts.append(str((call.get("function") or {}).get("arguments", "")))
    return texts


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            tools[function["name"]] = function.get("parameters") or {}
    return tools


def _tool_choice(body: dict[str, Any]) -> tuple[str, str | None]:
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return ("required", name) if isinstance(name, str) else ("auto", None)
    return (choice if choice in ("none", "auto", "required") else "auto"), None


def _reply(body: dict[str, Any], last_text: str) -> str | None:
    """The JSON text ``response_format`` asks for, or None for free text."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        json_schema = response_format.get("json_schema")
        schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
        return common.json_reply(schema, last_text)
    if kind == "json_object":
        return common.json_reply(None, last_text)
    return None


def usage(
    prompt: int, completion: common.Completion, controls: Controls, choices: int = 1
) -> dict[str, Any]:
    """Usage of ``choices`` completions: OpenAI bills every choice's tokens."""
    reasoning = controls.reasoning_tokens * choices
    output = completion.output_tokens * choices + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {
            "cached_tokens": min(controls.cached_tokens, prompt),
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def chat_completions(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    body = await json_object(exchange)
    if body is None:
        return
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        await send_error(exchange, 400, "you must provide a model parameter", param="model")
        return
    if not isinstance(messages, list) or not messages:
        await send_error(exchange, 400, "'messages' must be a non-empty array.", param="messages")
        return
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        await send_error(
            exchange, 400, "max_tokens must be a positive integer.", param="max_tokens"
        )
        return
    choices = body.get("n", 1)
    if isinstance(choices, bool) or not isinstance(choices, int) or not 1 <= choices <= 128:
        await send_error(exchange, 400, "'n' must be an integer between 1 and 128.", param="n")
        return
    exchange.record_model(kind_of(exchange), model)
    last_text = _last_user_text(messages)
    controls = await request_controls(exchange, last_text)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return

    mode, forced = _tool_choice(body)
    last = messages[-1]
    tool_call = common.choose_tool(
        _tools(body),
        mode=mode,
        forced=forced,
        last_user_text=last_text,
        ends_with_tool_result=isinstance(last, dict) and last.get("role") == "tool",
    )
    reply = _reply(body, strip_markers(last_text))
    completion = common.complete(strip_markers(last_text), max_tokens, tool_call, reply)
    billed = _prompt_texts(messages)
    if body.get("tools"):  # tool definitions are billed as prompt tokens, as OpenAI does
        billed.append(common.json_text(body["tools"]))
    prompt = common.count_tokens("\n".join(billed))
    the_usage = usage(prompt, completion, controls, choices)
    identity = {
        "id": new_id("chatcmpl-"),
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    headers = [("x-request-id", new_id("req_")), ("openai-processing-ms", "1")]
    finish = _FINISH[completion.finish]
    call_ids = [new_id("call_") for _ in range(choices)]

    if not body.get("stream"):
        response = {
            **identity,
            "object": "chat.completion",
            "choices": [
                {
                    "index": index,
                    "message": _message(completion, call_id),
                    "logprobs": None,
                    "finish_reason": finish,
                }
                for index, call_id in enumerate(call_ids)
            ],
            "usage": the_usage,
        }
        await answer(exchange, response, controls, headers)
        return

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse({**identity, "object": "chat.completion.chunk", "choices": [choice], **extra})

    # the choices' deltas interleave, as OpenAI sends them
    deltas = [_deltas(completion, call_id) for call_id in call_ids]
    frames = [
        chunk(index, steps[step])
        for step in range(max(map(len, deltas)))
        for index, steps in enumerate(deltas)
        if step < len(steps)
    ]
    frames += [chunk(index, {}, finish) for index in range(choices)]
    if include_usage:
        frames.append(
            sse({**identity, "object": "chat.completion.chunk", "choices": [], "usage": the_usage})
        )
    frames.append(b"data: [DONE]\n\n")
    await stream(
        exchange,
        frames,
        controls,
        content_type="text/event-stream; charset=utf-8",
        tail=(2 if include_usage else 1) + choices,
        terminator=b"\n\n",
        headers=headers,
    )


def _message(completion: common.Completion, call_id: str) -> dict[str, Any]:
    tool_call = completion.tool_call
    message: dict[str, Any] = {
        "role": "assistant",
        "content": completion.text if tool_call is None else None,
        "refusal": None,
        "annotations": [],
    }
    if tool_call is not None:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": tool_call.name, "arguments": tool_call.arguments_json},
            }
        ]
    return message


def _deltas(completion: common.Completion, call_id: str) -> list[dict[str, Any]]:
    """One choice's stream deltas before its finish: the role, then the pieces."""
    tool_call = completion.tool_call
    if tool_call is None:
        return [
            {"role": "assistant", "content": "", "refusal": None},
            *({"content": piece} for piece in completion.pieces),
        ]
    start = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": tool_call.name, "arguments": ""},
    }
    return [
        {"role": "assistant", "content": None, "tool_calls": [start]},
        *(
            {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
            for part in _argument_parts(tool_call.arguments_json)
        ),
    ]


def sse(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


def _argument_parts(arguments: str) -> list[str]:
    """Tool arguments in a few deltas, like OpenAI streams them."""
    return common.split_text(arguments, max(4, -(-len(arguments) // 4)))


# -- embeddings -------------------------------------------------------------------------


async def embeddings(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    body = await json_object(exchange)
    if body is None:
        return
    model, raw = body.get("model"), body.get("input")
    if not isinstance(model, str) or not model:
        await send_error(exchange, 400, "you must provide a model parameter", param="model")
        return
    inputs: list[Any]
    if isinstance(raw, str) or (
        isinstance(raw, list) and raw and all(isinstance(i, int) for i in raw)
    ):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, str | list) for i in raw):
        inputs = raw
    else:
        await send_error(exchange, 400, "'input' must be a string or array.", param="input")
        return
    dimensions = body.get("dimensions", common.DEFAULT_EMBEDDING_DIMENSIONS)
    encoding = body.get("encoding_format", "float")
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        await send_error(exchange, 400, "'dimensions' must be between 1 and 4096.", "dimensions")
        return
    if encoding not in ("float", "base64"):
        await send_error(
            exchange, 400, "'encoding_format' must be 'float' or 'base64'.", param="encoding_format"
        )
        return
    exchange.record_model(kind_of(exchange), model)
    texts = [item if isinstance(item, str) else " ".join(map(str, item)) for item in inputs]
    controls = await request_controls(
        exchange, next((t for t in reversed(inputs) if isinstance(t, str)), "")
    )
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    data = []
    for index, text in enumerate(texts):
        vector = common.embedding(strip_markers(text), dimensions)
        encoded: Any = common.embedding_base64(vector) if encoding == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(
        common.count_tokens(item) if isinstance(item, str) else len(item) for item in inputs
    )
    response = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    await answer(exchange, response, controls, [("x-request-id", new_id("req_"))])


# -- images -----------------------------------------------------------------------------


async def image_generations(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    body = await json_object(exchange)
    if body is None:
        return
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        await send_error(exchange, 400, "'prompt' is required.", param="prompt")
        return
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        await send_error(exchange, 400, "'n' must be between 1 and 10.", param="n")
        return
    model = body.get("model") or "dall-e-2"
    gpt_image = str(model).startswith("gpt-image")
    response_format = body.get("response_format") or ("b64_json" if gpt_image else "url")
    if response_format not in ("url", "b64_json"):
        await send_error(
            exchange, 400, "'response_format' must be 'url' or 'b64_json'.", "response_format"
        )
        return
    exchange.record_model(kind_of(exchange), model)
    controls = await request_controls(exchange, prompt)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    colour = common.colour_of(strip_markers(prompt))
    if response_format == "url":
        item: dict[str, Any] = {"url": f"http://{exchange.host}/openai/images/{colour}.png"}
    else:
        item = {"b64_json": _b64(common.png_pixel(colour))}
    if model == "dall-e-3":
        item["revised_prompt"] = strip_markers(prompt)
    response: dict[str, Any] = {"created": int(time.time()), "data": [dict(item) for _ in range(n)]}
    if gpt_image:
        prompt_tokens = common.count_tokens(prompt)
        output_tokens = 272 * n
        response["usage"] = {
            "input_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
        }
    await answer(exchange, response, controls, [("x-request-id", new_id("req_"))])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def image_file(exchange: Exchange) -> None:
    await exchange.send_bytes(200, common.png_pixel(exchange.params["colour"]), "image/png")


# -- models -----------------------------------------------------------------------------


def _model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _MODELS_CREATED, "owned_by": owner}


async def list_models(exchange: Exchange) -> None:
    if await authorised(exchange):
        data = [_model(model_id, owner) for model_id, owner in _MODELS]
        await exchange.send_json(200, {"object": "list", "data": data})


async def retrieve_model(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    model_id = exchange.params["model"]
    owner = dict(_MODELS).get(model_id)
    if owner is None:
        await send_error(
            exchange, 404, f"The model '{model_id}' does not exist", code="model_not_found"
        )
        return
    await exchange.send_json(200, _model(model_id, owner))


# -- videos ---------------------------------------------------------------------------

_VIDEO_ERRORS = {
    "failed": ("video_generation_failed", "Video generation failed. Please try again."),
    "filtered": (
        "moderation_blocked",
        "Your request was blocked by our moderation system.",
    ),
}
_STATUSES = {"done": "completed", "failed": "failed", "filtered": "failed"}
_SIZE_RE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")


def _form_fields(exchange: Exchange) -> dict[str, str] | None:
    """The text fields of a multipart/form-data body (file parts are read and dropped),
    or None when it is not valid multipart."""
    content_type = exchange.headers.get("content-type", "")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + exchange.body)
    if not message.is_multipart() or message.defects:
        return None
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None
        fields[name] = payload.decode("utf-8", "replace")
    return fields


async def _video_form(exchange: Exchange) -> dict[str, Any] | None:
    """The create body, multipart (as the SDK sends it) or JSON; None after a 400."""
    if exchange.headers.get("content-type", "").startswith("multipart/form-data"):
        fields: dict[str, Any] | None = _form_fields(exchange)
        if fields is None:
            await send_error(
                exchange, 400, "We could not parse the multipart body of your request."
            )
        return fields
    return await json_object(exchange)


def _video_params(form: dict[str, Any]) -> tuple[str, str, int, str] | tuple[str, str]:
    """(prompt, model, seconds, size), or (the message, the param) of what is wrong."""
    prompt = form.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "Missing required parameter: 'prompt'.", "prompt"
    model = form.get("model", "sora-2")
    if not isinstance(model, str) or not model:
        return "'model' must be a string.", "model"
    seconds = str(form.get("seconds", "4"))
    if not seconds.isdigit() or not 1 <= int(seconds) <= 60:
        return f"Invalid value: '{seconds[:20]}'. 'seconds' must be a number of seconds.", "seconds"
    size = form.get("size", "720x1280")
    if not isinstance(size, str) or not _SIZE_RE.fullmatch(size):
        return "'size' must be formatted as WIDTHxHEIGHT.", "size"
    return prompt, model, int(seconds), size


def _video(job: video_jobs.Job, now: float) -> dict[str, Any]:
    state = job.state(now)
    ended = state not in ("queued", "in_progress")
    error = _VIDEO_ERRORS.get(state)
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": _STATUSES.get(state, state),
        "progress": job.progress(now),
        "created_at": int(job.created_at),
        "completed_at": int(job.ends_at) if ended else None,
        "expires_at": int(job.expires_at) if state == "done" else None,
        "seconds": str(job.seconds),
        "size": job.size,
        "error": {"code": error[0], "message": error[1]} if error else None,
        "prompt": None,  # the mock keeps no prompt
        "remixed_from_video_id": None,
    }


async def create_video(exchange: Exchange) -> None:
    if not await authorised(exchange):
        return
    form = await _video_form(exchange)
    if form is None:
        return
    params = _video_params(form)
    if len(params) == 2:
        await send_error(exchange, 400, params[0], param=params[1])
        return
    prompt, model, seconds, size = params
    exchange.record_model(kind_of(exchange), model)
    controls = await request_controls(exchange, prompt)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    jobs = exchange.app.video_jobs
    job = jobs.create(prefix="video_", model=model, seconds=seconds, size=size, controls=controls)
    await answer(exchange, _video(job, jobs.clock()), controls, [("x-request-id", new_id("req_"))])


async def _video_job(exchange: Exchange) -> video_jobs.Job | None:
    if not await authorised(exchange):
        return None
    job = exchange.app.video_jobs.get(exchange.params["video"])
    if job is None:
        await send_error(
            exchange, 404, f"Video with id '{exchange.params['video']}' not found.", param="id"
        )
    return job


async def retrieve_video(exchange: Exchange) -> None:
    job = await _video_job(exchange)
    if job is not None:
        await exchange.send_json(200, _video(job, exchange.app.video_jobs.clock()))


async def video_content(exchange: Exchange) -> None:
    job = await _video_job(exchange)
    if job is None:
        return
    variant = exchange.query.get("variant", "video")
    if variant not in ("video", "thumbnail"):
        await send_error(exchange, 400, f"Invalid variant '{variant[:20]}'.", param="variant")
    elif not job.file_available(exchange.app.video_jobs.clock()):
        await send_error(exchange, 404, "The video's content is not available.", param="id")
    elif variant == "thumbnail":
        await exchange.send_bytes(200, common.png_pixel("808080"), "image/png")
    else:
        await exchange.send_bytes(200, mp4_video(job.seconds), "video/mp4")


async def delete_video(exchange: Exchange) -> None:
    job = await _video_job(exchange)
    if job is not None:
        exchange.app.video_jobs.delete(job.id)
        await exchange.send_json(200, {"id": job.id, "object": "video.deleted", "deleted": True})


def kind_of(exchange: Exchange) -> str:
    return COMPATIBLE_KIND if exchange.path.startswith(f"/{COMPATIBLE_KIND}/") else KIND


_ENDPOINTS = [
    ("POST", r"/v1/chat/completions", chat_completions),
    ("POST", r"/v1/embeddings", embeddings),
    ("POST", r"/v1/images/generations", image_generations),
    ("GET", r"/v1/models", list_models),
    ("GET", r"/v1/models/(?P<model>[^/]+)", retrieve_model),
    ("POST", r"/v1/videos", create_video),
    ("GET", r"/v1/videos/(?P<video>[^/]+)", retrieve_video),
    ("DELETE", r"/v1/videos/(?P<video>[^/]+)", delete_video),
    ("GET", r"/v1/videos/(?P<video>[^/]+)/content", video_content),
]
ROUTES = [
    *(
        Route(kind, method, re.compile(f"/{kind}{path}"), handler)
        for kind in (KIND, COMPATIBLE_KIND)
        for method, path, handler in _ENDPOINTS
    ),
    Route(KIND, "GET", re.compile(r"/openai/images/(?P<colour>[0-9a-f]{6})\.png"), image_file),
]
