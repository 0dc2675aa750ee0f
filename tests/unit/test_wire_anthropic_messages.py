"""Anthropic Messages wire format: requests to OpenAI chat, completions and chunks back again."""

from __future__ import annotations

import copy
import json
from typing import Any

import anthropic
import httpx2
import pytest

from tollgate.errors import BadRequest
from tollgate.sse import SSEDecoder
from tollgate.wire.anthropic_messages import (
    MessagesStreamEncoder,
    from_chat_completion,
    to_chat_request,
)

IMAGE_DATA = "iVBORw0KGgo="
# The Anthropic SDK may ask for a model of any provider through Tollgate.
CLIENT_MODEL = "llama-3.3-70b-versatile"


def messages_request(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": CLIENT_MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    body.update(fields)
    return body


def chat_messages_for(*messages: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    return to_chat_request(messages_request(messages=list(messages), **fields))["messages"]


# --- request translation ----------------------------------------------------------------------


def test_a_minimal_request_becomes_a_chat_request_with_the_same_model_and_budget():
    chat = to_chat_request(messages_request())

    assert chat == {
        "model": CLIENT_MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello"}],
    }


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("Be brief.", [{"role": "system", "content": "Be brief."}]),
        (
            [
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French."},
            ],
            [{"role": "system", "content": "Be brief.\n\nAnswer in French."}],
        ),
        ("", []),
        ([], []),
    ],
    ids=["string", "text-blocks-joined", "empty-string", "empty-list"],
)
def test_the_system_prompt_becomes_one_leading_system_message(system, expected):
    messages = chat_messages_for({"role": "user", "content": "Hi"}, system=system)

    assert messages == [*expected, {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hi", "Hi"),
        ([{"type": "text", "text": "Hi"}], "Hi"),
        (
            [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
            [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
        ),
        (
            [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_DATA},
                },
                {"type": "text", "text": "What is this?"},
            ],
            [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_DATA}"}},
                {"type": "text", "text": "What is this?"},
            ],
        ),
        (
            [{"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}}],
            [{"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}],
        ),
        ([], ""),
    ],
    ids=["string", "one-text-block", "two-text-blocks", "base64-image", "url-image", "empty"],
)
def test_user_content_becomes_a_string_or_openai_content_parts(content, expected):
    messages = chat_messages_for({"role": "user", "content": content})

    assert messages == [{"role": "user", "content": expected}]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Sure.", {"role": "assistant", "content": "Sure."}),
        (
            [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
            {"role": "assistant", "content": "One.\n\nTwo."},
        ),
        (
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Done."},
            ],
            {"role": "assistant", "content": "Done."},
        ),
        (
            [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
        ),
        (
            [{"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}],
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_9",
                        "type": "function",
                        "function": {"name": "now", "arguments": "{}"},
                    }
                ],
            },
        ),
    ],
    ids=["string", "text-blocks-joined", "thinking-dropped", "text-and-tool-use", "tool-use-only"],
)
def test_assistant_turns_become_text_and_tool_calls(content, expected):
    messages = chat_messages_for(
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": content}
    )

    assert messages[1] == expected


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        (
            [{"type": "tool_result", "tool_use_id": "call_1", "content": "12°C"}],
            [{"role": "tool", "tool_call_id": "call_1", "content": "12°C"}],
        ),
        (
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": [{"type": "text", "text": "12°C"}, {"type": "text", "text": "dry"}],
                }
            ],
            [{"role": "tool", "tool_call_id": "call_1", "content": "12°C\ndry"}],
        ),
        (
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": "no such city",
                    "is_error": True,
                }
            ],
            [{"role": "tool", "tool_call_id": "call_1", "content": "Error: no such city"}],
        ),
        (
            [{"type": "tool_result", "tool_use_id": "call_1"}],
            [{"role": "tool", "tool_call_id": "call_1", "content": ""}],
        ),
        (
            [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "12°C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "14:05"},
                {"type": "text", "text": "Thanks"},
            ],
            [
                {"role": "tool", "tool_call_id": "call_1", "content": "12°C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
                {"role": "user", "content": "Thanks"},
            ],
        ),
        (
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": [
                        {"type": "text", "text": "Screenshot taken"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                        },
                    ],
                }
            ],
            [
                {"role": "tool", "tool_call_id": "call_1", "content": "Screenshot taken"},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
                    ],
                },
            ],
        ),
    ],
    ids=[
        "string-content",
        "text-blocks",
        "is-error-noted",
        "no-content",
        "two-results-then-text",
        "image-moves-to-user-message",
    ],
)
def test_tool_results_become_tool_messages_before_any_user_content(blocks, expected):
    messages = chat_messages_for({"role": "user", "content": blocks})

    assert messages == expected


def test_tools_become_openai_function_tools():
    tools = [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"type": "custom", "name": "now", "input_schema": {"type": "object"}},
    ]

    chat = to_chat_request(messages_request(tools=tools))

    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}},
    ]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        (
            {"type": "tool", "name": "weather"},
            {"tool_choice": {"type": "function", "function": {"name": "weather"}}},
        ),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            {"tool_choice": "required", "parallel_tool_calls": False},
        ),
        (None, {}),
    ],
    ids=["auto", "any", "tool", "none", "auto-no-parallel", "any-no-parallel", "absent"],
)
def test_tool_choice_maps_to_the_openai_equivalent(tool_choice, expected):
    tools = [{"name": "weather", "input_schema": {"type": "object"}}]

    chat = to_chat_request(messages_request(tools=tools, tool_choice=tool_choice))

    assert {k: chat[k] for k in ("tool_choice", "parallel_tool_calls") if k in chat} == expected


def test_tool_choice_auto_without_tools_is_dropped():
    chat = to_chat_request(messages_request(tool_choice={"type": "auto"}))

    assert "tool_choice" not in chat and "tools" not in chat


def test_sampling_stop_stream_and_user_fields_are_carried_and_top_k_is_dropped():
    chat = to_chat_request(
        messages_request(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END", "###"],
            stream=True,
            metadata={"user_id": "user-42"},
        )
    )

    assert {k: v for k, v in chat.items() if k not in ("model", "messages", "max_tokens")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END", "###"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "user-42",
    }


def test_hint_fields_anthropic_adds_are_ignored():
    chat = to_chat_request(
        messages_request(
            thinking={"type": "enabled", "budget_tokens": 1024},
            service_tier="auto",
            cache_control={"type": "ephemeral"},
            some_future_field={"x": 1},
        )
    )

    assert chat == to_chat_request(messages_request())


@pytest.mark.parametrize("field", ["output_config", "output_format"])
def test_a_json_schema_output_format_becomes_a_response_format(field):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    output_format = {"type": "json_schema", "schema": schema}
    value = {"format": output_format} if field == "output_config" else output_format

    chat = to_chat_request(messages_request(**{field: value}))

    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


def test_translation_does_not_change_the_request_body():
    body = messages_request(
        system=[{"type": "text", "text": "Be brief."}],
        tools=[{"name": "weather", "input_schema": {"type": "object"}}],
    )
    original = copy.deepcopy(body)

    to_chat_request(body)

    assert body == original


def _messages(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": list(messages)}


HI = {"role": "user", "content": "Hi"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": None}, "model"),
        ({"model": "  "}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "Hi"}, "messages"),
        (_messages("Hi"), "messages.0"),
        (_messages({"role": "system", "content": "x"}), "messages.0.role"),
        (_messages({"role": "user"}), "messages.0.content"),
        (
            _messages(
                HI,
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": [{"type": "document", "source": {}}]},
            ),
            "messages.2.content.0.type",
        ),
        (
            _messages({"role": "user", "content": [{"text": "no type"}]}),
            "messages.0.content.0.type",
        ),
        (_messages({"role": "user", "content": [{"type": "text"}]}), "messages.0.content.0.text"),
        (
            _messages({"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}),
            "messages.0.content.0.source.type",
        ),
        (
            _messages(
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "base64", "data": "AA=="}}],
                }
            ),
            "messages.0.content.0.source.media_type",
        ),
        (
            _messages(
                {
                    "role": "user",
                    "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}],
                }
            ),
            "messages.0.content.0.type",
        ),
        (
            _messages(
                HI, {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "a"}]}
            ),
            "messages.1.content.0.type",
        ),
        (
            _messages(
                HI, {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "b"}]}
            ),
            "messages.1.content.0.input",
        ),
        (
            _messages(
                HI,
                {"role": "assistant", "content": [{"type": "tool_use", "name": "b", "input": {}}]},
            ),
            "messages.1.content.0.id",
        ),
        (
            _messages({"role": "user", "content": [{"type": "tool_result"}]}),
            "messages.0.content.0.tool_use_id",
        ),
        (
            _messages(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "a",
                            "content": [{"type": "document"}],
                        }
                    ],
                }
            ),
            "messages.0.content.0.content.0.type",
        ),
        ({"system": [{"type": "image"}]}, "system.0.type"),
        ({"system": 7}, "system"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
        ({"tools": [{"input_schema": {}}]}, "tools.0.name"),
        ({"tools": [{"name": "x"}]}, "tools.0.input_schema"),
        ({"tools": {"name": "x"}}, "tools"),
        (
            {"tools": [{"name": "x", "input_schema": {}}], "tool_choice": {"type": "sometimes"}},
            "tool_choice.type",
        ),
        (
            {"tools": [{"name": "x", "input_schema": {}}], "tool_choice": {"type": "tool"}},
            "tool_choice.name",
        ),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": ["END", 3]}, "stop_sequences.1"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": True}, "top_p"),
        ({"stream": "yes"}, "stream"),
        ({"metadata": "user-1"}, "metadata"),
        ({"metadata": {"user_id": 42}}, "metadata.user_id"),
        ({"output_config": {"format": {"type": "regex"}}}, "output_config.format.type"),
        ({"container": "container_1"}, "container"),
        ({"mcp_servers": [{"type": "url", "url": "https://mcp.test"}]}, "mcp_servers"),
    ],
)
def test_an_invalid_request_is_refused_naming_the_field(fields, param):
    with pytest.raises(BadRequest) as raised:
        to_chat_request(messages_request(**fields))

    assert raised.value.param == param
    assert param in raised.value.message


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest, match="JSON object"):
        to_chat_request(["not", "an", "object"])  # type: ignore[arg-type]


def test_an_unsupported_block_error_lists_the_supported_types():
    with pytest.raises(BadRequest) as raised:
        chat_messages_for({"role": "user", "content": [{"type": "document"}]})

    assert "'document'" in raised.value.message
    assert "text, image, tool_result" in raised.value.message


# --- response translation ---------------------------------------------------------------------


def completion(
    message: dict[str, Any] | None = None,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    **choice_fields: Any,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": message or {"role": "assistant", "content": "Hello!"},
                "finish_reason": finish_reason,
                **choice_fields,
            }
        ],
        "usage": usage
        or {
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


TOOL_CALLS_MESSAGE = {
    "role": "assistant",
    "content": "Let me check.",
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
    ],
}


def test_a_completion_becomes_a_message_for_the_model_the_client_asked_for():
    message = from_chat_completion(completion(), model=CLIENT_MODEL)

    assert message == {
        "id": "msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "type": "message",
        "role": "assistant",
        "model": CLIENT_MODEL,
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 30,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
        },
    }


def test_the_message_id_is_stable_for_one_completion_id():
    first = from_chat_completion(completion(), model="m")["id"]
    again = from_chat_completion(completion(), model="m")["id"]

    assert first == again and first.startswith("msg_")


def test_tool_calls_become_tool_use_blocks_after_the_text():
    message = from_chat_completion(
        completion(TOOL_CALLS_MESSAGE, finish_reason="tool_calls"), model="m"
    )

    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "time", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_tool_arguments_that_are_not_a_json_object_become_an_empty_input():
    broken = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x": '}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "[1]"}},
            {"id": "c3", "type": "function", "function": {"name": "c", "arguments": '{"y": 1}'}},
        ],
    }

    message = from_chat_completion(completion(broken, finish_reason="tool_calls"), model="m")

    assert [block["input"] for block in message["content"]] == [{}, {}, {"y": 1}]


@pytest.mark.parametrize(
    ("finish_reason", "choice_fields", "stop_reason", "stop_sequence"),
    [
        ("stop", {}, "end_turn", None),
        ("length", {}, "max_tokens", None),
        ("tool_calls", {}, "tool_use", None),
        ("content_filter", {}, "refusal", None),
        ("stop", {"stop_reason": "###"}, "stop_sequence", "###"),
        ("stop", {"stop_sequence": "END"}, "stop_sequence", "END"),
        ("stop", {"stop_reason": 128009}, "end_turn", None),
        (None, {}, "end_turn", None),
    ],
    ids=[
        "stop",
        "length",
        "tool-calls",
        "content-filter",
        "vllm-matched-stop",
        "adapter-matched-stop",
        "stop-token-id-is-not-a-sequence",
        "missing",
    ],
)
def test_the_finish_reason_maps_to_an_anthropic_stop_reason(
    finish_reason, choice_fields, stop_reason, stop_sequence
):
    message = from_chat_completion(completion(None, finish_reason, **choice_fields), model="m")

    assert (message["stop_reason"], message["stop_sequence"]) == (stop_reason, stop_sequence)


def test_tool_calls_finished_with_stop_still_report_tool_use():
    message = from_chat_completion(completion(TOOL_CALLS_MESSAGE, finish_reason="stop"), model="m")

    assert message["stop_reason"] == "tool_use"


def test_a_refusal_without_content_becomes_the_text():
    refused = {"role": "assistant", "content": None, "refusal": "I can't help with that."}

    message = from_chat_completion(completion(refused, "content_filter"), model="m")

    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert message["stop_reason"] == "refusal"


def test_the_tollgate_cost_is_carried_into_the_usage():
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.00042}

    message = from_chat_completion(completion(usage=usage), model="m")

    assert message["usage"] == {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost": 0.00042,
    }


def sdk_client(
    payload: bytes, content_type: str, sent: list[dict[str, Any]] | None = None
) -> anthropic.Anthropic:
    def respond(request: httpx2.Request) -> httpx2.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/messages")
        if sent is not None:
            sent.append(json.loads(request.content))
        return httpx2.Response(200, content=payload, headers={"content-type": content_type})

    transport = httpx2.MockTransport(respond)
    return anthropic.Anthropic(
        base_url="http://test",
        api_key="x",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def test_the_anthropic_sdk_parses_a_translated_message():
    body = from_chat_completion(
        completion(TOOL_CALLS_MESSAGE, "tool_calls", usage={**completion()["usage"], "cost": 0.01}),
        model=CLIENT_MODEL,
    )
    client = sdk_client(json.dumps(body).encode(), "application/json")

    message = client.messages.create(
        model=CLIENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )

    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].text == "Let me check."
    assert [(b.name, b.input) for b in message.content[1:]] == [
        ("weather", {"city": "Paris"}),
        ("time", {}),
    ]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (20, 100)


def test_a_request_built_by_the_anthropic_sdk_translates():
    sent: list[dict[str, Any]] = []
    client = sdk_client(
        json.dumps(from_chat_completion(completion(), model="m")).encode(), "application/json", sent
    )
    client.messages.create(
        model=CLIENT_MODEL,
        max_tokens=64,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_1", "name": "weather", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "4°C"}],
            },
        ],
        tools=[{"name": "weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        stop_sequences=["###"],
        metadata={"user_id": "u-1"},
    )

    chat = to_chat_request(sent[0])

    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "tool"]
    assert chat["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "4°C"}
    assert (chat["tool_choice"], chat["parallel_tool_calls"]) == ("auto", False)
    assert (chat["stop"], chat["user"]) == (["###"], "u-1")


# --- stream encoding --------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream1",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }


def tool_piece(index: int, arguments: str, **start: str) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if start:
        call.update(id=start["id"], type="function")
        call["function"]["name"] = start["name"]
    return chunk({"tool_calls": [call]})


STREAM_USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 40,
    "total_tokens": 160,
    "prompt_tokens_details": {"cached_tokens": 100},
    "cost": 0.0031,
}
USAGE_CHUNK = {**chunk(), "choices": [], "usage": STREAM_USAGE}

TEXT_THEN_TWO_TOOLS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me check "}),
    chunk({"content": "both."}),
    tool_piece(0, "", id="call_1", name="weather"),
    tool_piece(0, '{"city": '),
    tool_piece(0, '"Paris"}'),
    tool_piece(1, '{"tz":', id="call_2", name="time"),
    tool_piece(1, ' "CET"}'),
    chunk({}, "tool_calls"),
    USAGE_CHUNK,
]


def encode_stream(chunks: list[dict[str, Any]], **finish: Any) -> bytes:
    encoder = MessagesStreamEncoder(CLIENT_MODEL)
    return b"".join(encoder.encode(c) for c in chunks) + encoder.finish(**finish)


def decoded_events(payload: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    decoder = SSEDecoder()
    events = decoder.feed(payload) + decoder.close()
    return [(event.event, event.json()) for event in events]


def final_message_from_sdk(payload: bytes) -> anthropic.types.Message:
    client = sdk_client(payload, "text/event-stream")
    with client.messages.stream(
        model=CLIENT_MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        return stream.get_final_message()


def test_the_anthropic_sdk_accumulates_text_and_tool_calls_from_the_stream():
    message = final_message_from_sdk(encode_stream(TEXT_THEN_TWO_TOOLS))

    assert message.id == "msg_stream1"
    assert message.model == CLIENT_MODEL
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Let me check both."
    assert [(b.id, b.name, b.input) for b in message.content[1:]] == [
        ("call_1", "weather", {"city": "Paris"}),
        ("call_2", "time", {"tz": "CET"}),
    ]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 40)
    assert message.usage.cache_read_input_tokens == 100


def test_stream_events_follow_the_anthropic_order_with_blocks_indexed_in_turn():
    events = decoded_events(encode_stream(TEXT_THEN_TWO_TOOLS))

    assert [(name, data.get("index")) for name, data in events] == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert all(name == data["type"] for name, data in events)


def test_message_start_carries_a_skeleton_with_zero_input_tokens():
    name, data = decoded_events(MessagesStreamEncoder("m").encode(chunk({"content": "Hi"})))[0]

    assert name == "message_start"
    assert data["message"]["content"] == []
    assert data["message"]["usage"]["input_tokens"] == 0
    assert data["message"]["stop_reason"] is None


def test_a_tool_block_starts_with_its_id_name_and_empty_input():
    events = decoded_events(encode_stream(TEXT_THEN_TWO_TOOLS))

    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert starts[1] == {"type": "tool_use", "id": "call_1", "name": "weather", "input": {}}


def test_the_message_delta_carries_stop_reason_usage_and_cost():
    events = decoded_events(encode_stream(TEXT_THEN_TWO_TOOLS))

    delta = dict(events)["message_delta"]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 20,
        "output_tokens": 40,
        "cache_read_input_tokens": 100,
        "cost": 0.0031,
    }


def test_finish_arguments_override_what_the_chunks_said():
    chunks = [chunk({"content": "Once upon a"})]
    usage = {"prompt_tokens": 8, "completion_tokens": 16, "cost": 0.002}

    events = decoded_events(encode_stream(chunks, usage=usage, finish_reason="length"))

    delta = dict(events)["message_delta"]
    assert delta["delta"]["stop_reason"] == "max_tokens"
    assert (delta["usage"]["output_tokens"], delta["usage"]["cost"]) == (16, 0.002)


def test_a_matched_stop_sequence_is_reported_in_the_stream():
    chunks = [
        chunk({"content": "a b c"}),
        {
            **chunk({}, "stop"),
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "###"}],
        },
    ]

    message = final_message_from_sdk(encode_stream(chunks))

    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


def test_a_stream_without_usage_reports_zero_output_tokens():
    events = decoded_events(encode_stream([chunk({"content": "Hi"}, "stop")]))

    assert dict(events)["message_delta"]["usage"] == {"output_tokens": 0}


def test_a_stream_that_produced_nothing_is_still_a_valid_message():
    message = final_message_from_sdk(encode_stream([]))

    assert message.content == []
    assert message.stop_reason == "end_turn"


def test_nothing_is_emitted_after_the_stream_finished():
    encoder = MessagesStreamEncoder("m")
    encoder.encode(chunk({"content": "Hi"}))
    encoder.finish()

    assert encoder.encode(chunk({"content": "late"})) + encoder.finish() == b""


def test_an_upstream_failure_mid_stream_reaches_the_sdk_as_an_error_event():
    encoder = MessagesStreamEncoder("m")
    payload = encoder.encode(chunk({"content": "Partial"})) + encoder.error(
        {"type": "error", "error": {"type": "api_error", "message": "Upstream failed."}}
    )

    assert decoded_events(payload)[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "Upstream failed."}},
    )
    with pytest.raises(anthropic.APIStatusError, match="Upstream failed"):
        final_message_from_sdk(payload)


def test_a_broken_stream_tells_its_cost_in_a_message_delta_before_the_error():
    # given a stream that broke after some text
    encoder = MessagesStreamEncoder("m")
    payload = (
        encoder.encode(chunk({"content": "Partial"}))
        + encoder.usage_before_error({"prompt_tokens": 5, "completion_tokens": 2, "cost": 0.0003})
        + encoder.error({"type": "error", "error": {"type": "api_error", "message": "Cut."}})
    )

    # then the open block is closed, the usage with its cost comes next, the error last
    names = [name for name, _ in decoded_events(payload)]
    assert names[-3:] == ["content_block_stop", "message_delta", "error"]
    delta = decoded_events(payload)[-2][1]
    assert delta["delta"]["stop_reason"] is None
    assert delta["usage"]["cost"] == 0.0003 and delta["usage"]["output_tokens"] == 2
    with pytest.raises(anthropic.APIStatusError, match="Cut"):
        final_message_from_sdk(payload)
