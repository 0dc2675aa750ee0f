"""OpenAI Responses wire format: requests to OpenAI chat, completions and chunks back again, as
the official SDK reads them."""

from __future__ import annotations

from typing import Any

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from tollgate.errors import BadRequest
from tollgate.sse import SSEDecoder
from tollgate.wire.openai_responses import (
    Echo,
    ResponsesStreamEncoder,
    from_chat_completion,
    to_chat_request,
)

MODEL = "anthropic/claude-haiku-4-5"
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cost": 0.0001}


def chat_of(**fields: Any) -> dict[str, Any]:
    return to_chat_request({"model": MODEL, "input": "Hi", **fields})[0]


def refusal(**fields: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        to_chat_request({"model": MODEL, "input": "Hi", **fields})
    return caught.value


# --- request translation ----------------------------------------------------------------------


def test_a_conversation_of_items_becomes_chat_messages_with_tool_calls_and_outputs():
    # given the whole conversation a stateless client sends back, tool round included
    items = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
    ]

    chat = chat_of(instructions="Be brief.", input=items)

    # then every turn is there in chat's shape, the call joined to the assistant's words
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    assert chat["store"] is False


def test_settings_map_to_their_chat_names():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    chat = chat_of(
        tools=[TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
        reasoning={"effort": "low"},
        max_output_tokens=64,
        temperature=0.2,
        stream=True,
        store=True,
    )

    assert chat["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }
    assert (chat["reasoning_effort"], chat["max_tokens"], chat["temperature"]) == ("low", 64, 0.2)
    assert chat["stream_options"] == {"include_usage": True} and chat["store"] is False


@pytest.mark.parametrize("field", ["previous_response_id", "conversation"])
def test_state_kept_between_requests_is_refused(field):
    error = refusal(**{field: "resp_1"})
    assert error.param == field and "no conversation state" in error.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": {"id": "p"}, "seed": 1}, "prompt"),
        ({"tools": [{"type": "web_search"}]}, "tools.0.type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0.type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input.0.content.0.type",
        ),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"background": True}, "background"),
        ({"input": []}, "input"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(fields, param):
    assert refusal(**fields).param == param


# --- answers ------------------------------------------------------------------------------------


def test_a_completion_with_text_and_a_tool_call_is_a_response_the_sdk_reads():
    completion = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "Looking.",
                    "tool_calls": [
                        {"id": "call_9", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    }

    body = from_chat_completion(completion, model=MODEL, echo=Echo(tools=[TOOL]))

    response = Response.model_validate(body)
    assert response.output_text == "Looking." and response.status == "completed"
    assert response.output[1].type == "function_call" and response.output[1].call_id == "call_9"
    assert response.usage is not None and response.usage.total_tokens == 17
    assert body["usage"]["cost"] == 0.0001


def test_a_completion_cut_by_max_tokens_is_incomplete():
    completion = {"choices": [{"message": {"content": "Once"}, "finish_reason": "length"}]}

    response = Response.model_validate(from_chat_completion(completion, model=MODEL, echo=Echo()))

    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def sdk_final(stream: bytes) -> Any:
    """The stream as the SDK's ``responses.stream`` helper accumulates it."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[TOOL], text_format=omit)
    decoder = SSEDecoder()
    for event in decoder.feed(stream) + decoder.close():
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event.json()))
    return state._completed_response


def test_streamed_text_and_a_tool_call_accumulate_in_the_sdk_to_the_whole_response():
    encoder = ResponsesStreamEncoder(MODEL, Echo(tools=[TOOL]))
    call = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": '{"ci'}}
    parts = [
        encoder.encode(chunk({"role": "assistant", "content": "Hel"})),
        encoder.encode(chunk({"content": "lo"})),
        encoder.encode(chunk({"tool_calls": [call]})),
        encoder.encode(chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":1}'}}]})),
        encoder.encode(chunk({}, "tool_calls")),
        encoder.finish(USAGE),
    ]

    final = sdk_final(b"".join(parts))

    assert final.output_text == "Hello" and final.status == "completed"
    assert final.output[1].arguments == '{"city":1}' and final.output[1].call_id == "call_1"
    assert final.usage.output_tokens == 5
