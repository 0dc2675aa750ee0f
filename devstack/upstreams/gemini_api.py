"""Gemini under ``/gemini/v1beta/models/{model}:{method}``.

Methods: ``generateContent``, ``streamGenerateContent`` (``?alt=sse``: SSE ``data:`` chunks;
without it one JSON array, sent element by element), ``embedContent``,
``batchEmbedContents``, ``countTokens``, and Veo's ``predictLongRunning`` (a
``video_jobs`` job: its operation at ``models/{model}/operations/{id}``, the finished video
at ``files/{id}:download?alt=media`` on the host the request named). Auth is the
``x-goog-api-key`` header or the ``key`` query parameter; a missing or wrong key answers
401 ``UNAUTHENTICATED``. Errors are ``{"error": {"code", "message", "status"}}``.

Text streams in chunks of up to four tokens; every chunk carries ``usageMetadata`` (with
the cumulative ``candidatesTokenCount``) and the last one the ``finishReason``. A function
call (``common.choose_tool``; ``toolConfig.functionCallingConfig.mode`` ``ANY`` forces one,
with ``allowedFunctionNames[0]`` if given, ``NONE`` forbids it) comes whole in one chunk,
with ``finishReason`` ``STOP``. ``generationConfig.responseMimeType`` ``application/json``
makes the text ``common.json_reply`` of ``responseJsonSchema`` (JSON Schema, what the
gateway sends) or ``responseSchema`` (Gemini's OpenAPI subset). As Gemini does,
``cachedContentTokenCount`` and ``thoughtsTokenCount`` appear in ``usageMetadata`` only
when they are not zero.
"""

from __future__ import annotations

import re
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

KIND = "gemini"
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_FAULTS = {
    "500": (500, "An internal error has occurred. Please retry or report the problem."),
    "429": (429, "Resource has been exhausted (e.g. check quota)."),
    "overloaded": (503, "The model is overloaded. Please try again later."),
}
_STREAM_GROUP = 4


async def send_error(
    exchange: Exchange,
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS[status]}
    if details:
        error["details"] = details
    await exchange.send_json(status, {"error": error}, headers or [])


async def send_fault(exchange: Exchange, fault: str) -> None:
    status, message = _FAULTS[fault]
    if status == 429:
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        await send_error(exchange, status, message, [retry], [("retry-after", "1")])
    else:
        await send_error(exchange, status, message)


async def send_not_found(exchange: Exchange, what: str) -> None:
    if what == "method":
        await send_error(exchange, 405, f"Method {exchange.method} is not allowed on this path.")
    else:
        await send_error(exchange, 404, f"The requested URL {exchange.path} was not found.")


async def _authorised(exchange: Exchange) -> bool:
    key = exchange.headers.get("x-goog-api-key") or exchange.query.get("key")
    if not key or key != exchange.app.api_keys.get(KIND):
        reason = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
        await send_error(exchange, 401, "API key not valid. Please pass a valid API key.", [reason])
        return False
    return True


async def _accepted(exchange: Exchange) -> dict[str, Any] | None:
    if not await _authorised(exchange):
        return None
    body = exchange.json_object()
    if body is None:
        await send_error(exchange, 400, "Invalid JSON payload received.")
        return None
    return body


async def _controls(exchange: Exchange, text: str) -> Controls | None:
    return await controls_or_400(exchange, text, send_error)


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if isinstance(part.get("text"), str):
        return part["text"]
    if isinstance(part.get("functionCall"), dict):
        return common.json_text(part["functionCall"].get("args", {}))
    if isinstance(part.get("functionResponse"), dict):
        return common.json_text(part["functionResponse"].get("response", {}))
    return ""


def _content_text(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    return "\n".join(_part_text(part) for part in content.get("parts") or [])


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts = [_content_text(body.get("systemInstruction"))]
    texts += [_content_text(content) for content in body.get("contents") or []]
    return common.count_tokens("\n".join(texts))


def _last_user(contents: list[Any]) -> tuple[str, bool]:
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            parts = content.get("parts") or []
            result = any(isinstance(p, dict) and "functionResponse" in p for p in parts)
            return _content_text(content), result and content is contents[-1]
    return "", False


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        for declaration in (tool or {}).get("functionDeclarations") or []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                schema = declaration.get("parameters") or declaration.get("parametersJsonSchema")
                tools[declaration["name"]] = schema or {}
    return tools


def _tool_choice(body: dict[str, Any]) -> tuple[str, str | None]:
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = str(config.get("mode", "AUTO")).upper()
    if mode == "NONE":
        return "none", None
    if mode == "ANY":
        allowed = config.get("allowedFunctionNames") or []
        return "required", (allowed[0] if allowed else None)
    return "auto", None


def _reply(config: dict[str, Any], last_text: str) -> str | None:
    """The JSON text ``responseMimeType: application/json`` asks for, or None."""
    if str(config.get("responseMimeType", "")).lower() != "application/json":
        return None
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    return common.json_reply(schema, last_text)


def _usage(prompt: int, output: int, controls: Controls) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + controls.reasoning_tokens,
    }
    cached = min(controls.cached_tokens, prompt)
    if cached:
        usage["cachedContentTokenCount"] = cached
    if controls.reasoning_tokens:
        usage["thoughtsTokenCount"] = controls.reasoning_tokens
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return usage


async def _generate(exchange: Exchange, *, streaming: bool) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        await send_error(
            exchange, 400, "* GenerateContentRequest.contents: contents is not specified"
        )
        return
    config = body.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        await send_error(exchange, 400, "maxOutputTokens must be a positive integer.")
        return
    model = exchange.params["model"]
    exchange.record_model(KIND, model)
    last_text, ends_with_result = _last_user(contents)
    controls = await _controls(exchange, last_text)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return

    mode, forced = _tool_choice(body)
    tool_call = common.choose_tool(
        _tools(body),
        mode=mode,
        forced=forced,
        last_user_text=last_text,
        ends_with_tool_result=ends_with_result,
    )
    reply = _reply(config, strip_markers(last_text))
    completion = common.complete(strip_markers(last_text), max_tokens, tool_call, reply)
    prompt = _prompt_tokens(body)
    finish = _FINISH[completion.finish]
    identity = {"modelVersion": model, "responseId": new_id("")}

    def response(parts: list[dict[str, Any]], output: int, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if last:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": _usage(prompt, output, controls),
            **identity,
        }

    if tool_call is not None:
        call = {"functionCall": {"name": tool_call.name, "args": tool_call.arguments}}
        chunks = [response([call], completion.output_tokens, True)]
    else:
        pieces = list(completion.pieces)
        groups = [pieces[i : i + _STREAM_GROUP] for i in range(0, len(pieces), _STREAM_GROUP)]
        chunks, produced = [], 0
        for index, group in enumerate(groups or [[]]):
            produced += len(group)
            last = index == max(len(groups) - 1, 0)
            chunks.append(response([{"text": "".join(group)}], produced, last))

    if not streaming:
        if tool_call is None:
            whole = response([{"text": completion.text}], completion.output_tokens, True)
        else:
            whole = chunks[0]
        await answer(exchange, whole, controls)
        return
    if exchange.query.get("alt") == "sse":
        frames = [b"data: " + dumps(chunk) + b"\r\n\r\n" for chunk in chunks]
        await stream(
            exchange,
            frames,
            controls,
            content_type="text/event-stream",
            tail=1,
            terminator=b"\r\n\r\n",
        )
    else:
        frames = [(b"[" if i == 0 else b",\r\n") + dumps(c) for i, c in enumerate(chunks)]
        await stream(
            exchange,
            frames,
            controls,
            content_type="application/json; charset=UTF-8",
            tail=1,
            terminator=b"",
            trailer=b"]",
        )


async def generate_content(exchange: Exchange) -> None:
    await _generate(exchange, streaming=False)


async def stream_generate_content(exchange: Exchange) -> None:
    await _generate(exchange, streaming=True)


def _dimensions(request: dict[str, Any]) -> int:
    value = request.get("outputDimensionality") or common.DEFAULT_EMBEDDING_DIMENSIONS
    if not isinstance(value, int) or not 1 <= value <= 4096:
        raise ValueError("outputDimensionality must be between 1 and 4096.")
    return value


async def embed_content(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    if not isinstance(body.get("content"), dict):
        await send_error(exchange, 400, "* EmbedContentRequest.content: content is not specified")
        return
    try:
        dimensions = _dimensions(body)
    except ValueError as err:
        await send_error(exchange, 400, str(err))
        return
    exchange.record_model(KIND, exchange.params["model"])
    text = _content_text(body["content"])
    controls = await _controls(exchange, text)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    values = common.embedding(strip_markers(text), dimensions)
    await answer(exchange, {"embedding": {"values": values}}, controls)


async def batch_embed_contents(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    requests = body.get("requests")
    if (
        not isinstance(requests, list)
        or not requests
        or not all(isinstance(r, dict) and isinstance(r.get("content"), dict) for r in requests)
    ):
        await send_error(exchange, 400, "* BatchEmbedContentsRequest.requests: invalid requests")
        return
    try:
        dimensions = [_dimensions(request) for request in requests]
    except ValueError as err:
        await send_error(exchange, 400, str(err))
        return
    exchange.record_model(KIND, exchange.params["model"])
    texts = [_content_text(request["content"]) for request in requests]
    controls = await _controls(exchange, texts[-1])
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    embeddings = [
        {"values": common.embedding(strip_markers(text), size)}
        for text, size in zip(texts, dimensions, strict=True)
    ]
    await answer(exchange, {"embeddings": embeddings}, controls)


async def count_tokens(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    request = body.get("generateContentRequest") or body
    tokens = _prompt_tokens(request)
    await exchange.send_json(
        200,
        {
            "totalTokens": tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
        },
    )


# -- Veo: long-running video operations ---------------------------------------------------

_ASPECT_SIZES = {"16:9": "1280x720", "9:16": "720x1280"}
_RESPONSE_TYPE = (
    "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
)
_FILTERED_REASON = (
    "Your video could not be generated because it violates the usage guidelines. "
    "You will not be charged for this request."
)


def _video_request(body: dict[str, Any]) -> tuple[str, int, str] | str:
    """(prompt, seconds, aspect ratio) of a predictLongRunning body, or what is wrong."""
    instances = body.get("instances")
    instance = instances[0] if isinstance(instances, list) and instances else None
    prompt = instance.get("prompt") if isinstance(instance, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return "* PredictLongRunningRequest.instances[0].prompt: prompt is not specified"
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        return "* PredictLongRunningRequest.parameters: must be an object"
    seconds = parameters.get("durationSeconds", 8)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 60:
        return "durationSeconds must be an integer between 1 and 60."
    aspect = parameters.get("aspectRatio", "16:9")
    if aspect not in _ASPECT_SIZES:
        return "aspectRatio must be 16:9 or 9:16."
    return prompt, seconds, aspect


async def predict_long_running(exchange: Exchange) -> None:
    body = await _accepted(exchange)
    if body is None:
        return
    request = _video_request(body)
    if isinstance(request, str):
        await send_error(exchange, 400, request)
        return
    prompt, seconds, aspect = request
    model = exchange.params["model"]
    exchange.record_model(KIND, model)
    controls = await _controls(exchange, prompt)
    if controls is None or not await prelude(exchange, controls, send_fault):
        return
    job = exchange.app.video_jobs.create(
        prefix="", model=model, seconds=seconds, size=_ASPECT_SIZES[aspect], controls=controls
    )
    await answer(exchange, {"name": f"models/{model}/operations/{job.id}"}, controls)


def _operation(exchange: Exchange, job: video_jobs.Job) -> dict[str, Any]:
    now = exchange.app.video_jobs.clock()
    operation: dict[str, Any] = {"name": f"models/{job.model}/operations/{job.id}"}
    state = job.state(now)
    if state in ("queued", "in_progress"):
        return {**operation, "done": False, "metadata": {"progressPercent": job.progress(now)}}
    if state == "failed":
        error = {"code": 13, "message": "Video generation failed due to an internal error."}
        return {**operation, "done": True, "error": error}
    if state == "filtered":
        result: dict[str, Any] = {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [_FILTERED_REASON],
        }
    else:
        uri = f"http://{exchange.host}/gemini/v1beta/files/{job.id}:download?alt=media"
        result = {"generatedSamples": [{"video": {"uri": uri}}]}
    response = {"@type": _RESPONSE_TYPE, "generateVideoResponse": result}
    return {**operation, "done": True, "response": response}


async def get_operation(exchange: Exchange) -> None:
    if not await _authorised(exchange):
        return
    job = exchange.app.video_jobs.get(exchange.params["operation"])
    if job is None or job.model != exchange.params["model"]:
        await send_error(exchange, 404, "Operation not found.")
        return
    await exchange.send_json(200, _operation(exchange, job))


async def download_file(exchange: Exchange) -> None:
    if not await _authorised(exchange):
        return
    jobs = exchange.app.video_jobs
    job = jobs.get(exchange.params["file"])
    if job is None or not job.file_available(jobs.clock()):
        await send_error(exchange, 404, "File not found.")
        return
    await exchange.send_bytes(200, mp4_video(job.seconds), "video/mp4")


_MODEL = r"/gemini/v1(?:beta)?/models/(?P<model>[^/:]+)"
ROUTES = [
    Route(KIND, "POST", re.compile(_MODEL + ":predictLongRunning"), predict_long_running),
    Route(KIND, "GET", re.compile(_MODEL + r"/operations/(?P<operation>[^/:]+)"), get_operation),
    Route(
        KIND,
        "GET",
        re.compile(r"/gemini/v1(?:beta)?/files/(?P<file>[^/:]+):download"),
        download_file,
    ),
    Route(KIND, "POST", re.compile(_MODEL + ":generateContent"), generate_content),
    Route(KIND, "POST", re.compile(_MODEL + ":streamGenerateContent"), stream_generate_content),
    Route(KIND, "POST", re.compile(_MODEL + ":embedContent"), embed_content),
    Route(KIND, "POST", re.compile(_MODEL + ":batchEmbedContents"), batch_embed_contents),
    Route(KIND, "POST", re.compile(_MODEL + ":countTokens"), count_tokens),
]
