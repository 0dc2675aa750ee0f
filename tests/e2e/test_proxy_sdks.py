"""Customers call every provider kind through the official OpenAI and Anthropic SDKs (and
LangChain and the OpenAI Agents SDK on top of OpenAI's) and pay exactly what each call cost."""

from __future__ import annotations

import enum

import anthropic
import openai
import pydantic
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool
from langchain_openai import ChatOpenAI

from tests.e2e.stack import nanos, new_customer, usage_records, wallet
from tests.support.openapi import validate_openai

pytestmark = pytest.mark.e2e

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"]


@pytest.fixture(scope="module")
def customer(devstack):
    return new_customer(devstack, credit_usd="5.00")


def openai_client(devstack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=devstack["OPENAI_BASE_URL"], api_key=key, max_retries=0)


def anthropic_client(devstack, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=devstack["TOLLGATE_URL"], api_key=key, max_retries=0)


def test_the_model_list_is_the_catalog_with_prices(devstack, customer):
    models = openai_client(devstack, customer.api_key).models.with_raw_response.list()

    body = models.http_response.json()
    validate_openai("ListModelsResponse", body)
    ids = {model["id"] for model in body["data"]}
    assert set(MODELS) <= ids
    gpt = next(m for m in body["data"] if m["id"] == "openai/gpt-4o-mini")
    assert gpt["owned_by"] == "openai" and gpt["pricing"]["input"] == "0.15"


@pytest.mark.parametrize("model", MODELS)
def test_a_chat_completion_is_charged_exactly_its_reported_cost(devstack, customer, model):
    client = openai_client(devstack, customer.api_key)
    before, _ = wallet(devstack, customer.account_id)

    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}], max_tokens=40
    )

    completion = raw.parse()
    validate_openai("CreateChatCompletionResponse", raw.http_response.json())
    assert completion.choices[0].message.content
    cost = raw.headers["x-tollgate-cost"]
    assert nanos(completion.usage.cost) == nanos(cost) > 0
    balance, held = wallet(devstack, customer.account_id)
    assert before - balance == nanos(cost)
    assert held == 0
    assert raw.headers["x-request-id"]


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_completion_comes_in_chunks_and_is_charged_its_cost(devstack, customer, model):
    client = openai_client(devstack, customer.api_key)
    before, _ = wallet(devstack, customer.account_id)

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Stream please"}],
        max_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        validate_openai("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage

    assert len(pieces) > 5 and usage is not None
    balance, held = wallet(devstack, customer.account_id)
    assert before - balance == nanos(usage.cost)
    assert held == 0


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_starts_while_the_upstream_is_still_writing(devstack, model):
    # given an upstream pausing ten minutes between chunks, and a client that waits a minute
    # (a customer of its own: the stream it leaves is settled on the proxy's own time)
    customer = new_customer(devstack, credit_usd="1.00")
    client = openai.OpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0, timeout=60
    )

    # when a stream is opened and its first chunk read
    with client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Slowly [[mock:chunk_delay_ms=600000]]"}],
        max_tokens=40,
        stream=True,
    ) as stream:
        first = next(iter(stream))

    # then it came long before the upstream could have finished: the proxy does not buffer
    assert first.model == model and first.choices[0].delta.role == "assistant"


@pytest.mark.parametrize("model", MODELS)
def test_the_anthropic_sdk_reaches_every_provider(devstack, customer, model):
    client = anthropic_client(devstack, customer.api_key)

    message = client.messages.create(
        model=model, max_tokens=40, messages=[{"role": "user", "content": "Hello"}]
    )
    with client.messages.stream(
        model=model, max_tokens=40, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        streamed = stream.get_final_message()

    assert message.content[0].text == streamed.content[0].text
    assert message.stop_reason == streamed.stop_reason == "end_turn"
    assert message.usage.output_tokens == streamed.usage.output_tokens > 0


def test_streamed_tool_calls_reach_the_client_whole(devstack, customer):
    client = openai_client(devstack, customer.api_key)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]

    stream = client.chat.completions.create(
        model="anthropic/claude-haiku-4-5",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=tools,
        stream=True,
    )
    arguments, name, finish = "", None, None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            name = call.function.name or name
            arguments += call.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason

    assert name == "get_weather"
    assert '"city"' in arguments
    assert finish == "tool_calls"


def test_every_request_leaves_a_usage_record_without_content(devstack, customer):
    client = openai_client(devstack, customer.api_key)
    raw = client.chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Record me"}]
    )

    records = {r["request_id"]: r for r in usage_records(devstack, customer.account_id)}
    record = records[raw.headers["x-request-id"]]
    assert record["model"] == "openai/gpt-4o-mini"
    assert record["provider"] == "openai"
    assert record["charge"] == nanos(raw.headers["x-tollgate-cost"])
    assert record["input_tokens"] > 0 and record["output_tokens"] > 0
    assert "Record me" not in str(record)


@pytest.mark.parametrize("model", ["openai/text-embedding-3-small", "gemini/gemini-embedding-001"])
def test_embeddings_are_charged_their_input_tokens(devstack, customer, model):
    client = openai_client(devstack, customer.api_key)
    before, _ = wallet(devstack, customer.account_id)

    raw = client.embeddings.with_raw_response.create(
        model=model, input=["one text", "two"], encoding_format="float"
    )

    answer = raw.parse()
    validate_openai("CreateEmbeddingResponse", raw.http_response.json())
    assert len(answer.data) == 2 and answer.data[0].embedding
    balance, held = wallet(devstack, customer.account_id)
    assert before - balance == nanos(raw.headers["x-tollgate-cost"]) > 0
    assert held == 0


def test_images_are_charged_per_image_made(devstack, customer):
    client = openai_client(devstack, customer.api_key)
    before, _ = wallet(devstack, customer.account_id)

    raw = client.images.with_raw_response.generate(
        model="openai/gpt-image-1", prompt="a lighthouse", n=2
    )

    assert len(raw.parse().data) == 2
    validate_openai("ImagesResponse", raw.http_response.json())
    assert raw.headers["x-tollgate-cost"] == "0.084"
    balance, held = wallet(devstack, customer.account_id)
    assert before - balance == nanos("0.084") and held == 0


def test_a_chat_model_on_the_embeddings_endpoint_is_a_clear_400(devstack, customer):
    client = openai_client(devstack, customer.api_key)

    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="openai/gpt-4o-mini", input="x")

    assert refused.value.body["code"] == "unsupported_endpoint"


class Shipment(pydantic.BaseModel):
    class Speed(enum.StrEnum):
        STANDARD = "standard"
        EXPRESS = "express"

    class Address(pydantic.BaseModel):
        city: str
        postcode: str

    speed: Speed
    to: Address
    parcels: list[str]
    note: str | None


@pytest.mark.parametrize("model", MODELS)
def test_parse_with_a_pydantic_model_returns_the_parsed_object(devstack, customer, model):
    client = openai_client(devstack, customer.api_key)

    raw = client.chat.completions.with_raw_response.parse(
        model=model,
        messages=[{"role": "user", "content": "Plan my shipment"}],
        response_format=Shipment,
    )

    shipment = raw.parse().choices[0].message.parsed
    assert isinstance(shipment, Shipment) and shipment.speed is Shipment.Speed.STANDARD
    assert shipment.to.city and shipment.parcels
    assert nanos(raw.parse().usage.cost) == nanos(raw.headers["x-tollgate-cost"]) > 0


@pytest.mark.parametrize("name", ["openai/gpt-4o-mini", "gpt-4o-mini"])
def test_the_sdk_retrieves_a_model_by_its_id_or_alias(devstack, customer, name):
    model = openai_client(devstack, customer.api_key).models.retrieve(name)

    assert model.id == "openai/gpt-4o-mini"


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"])
def test_the_anthropic_sdk_counts_tokens_for_free(devstack, customer, model):
    before = wallet(devstack, customer.account_id)

    counted = anthropic_client(devstack, customer.api_key).messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "Count these few words"}]
    )

    assert counted.input_tokens > 0
    assert wallet(devstack, customer.account_id) == before


@pytest.mark.parametrize("model", MODELS)
def test_the_responses_api_answers_and_streams_for_every_provider(devstack, customer, model):
    # given the official SDK's Responses API, which keeps no state here: the input is whole
    client = openai_client(devstack, customer.api_key)
    before, _ = wallet(devstack, customer.account_id)
    earlier = {r["request_id"] for r in usage_records(devstack, customer.account_id)}

    # when a customer creates a response, then streams one
    raw = client.responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="Say hello", max_output_tokens=40
    )
    with client.responses.stream(model=model, input="Stream please") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    # then both are whole Responses, charged exactly what they say they cost
    response = raw.parse()
    validate_openai("Response", raw.http_response.json())
    assert response.output_text and response.store is False and response.model == model
    assert nanos(response.usage.cost) == nanos(raw.headers["x-tollgate-cost"]) > 0
    assert final.output_text == "".join(deltas) and len(deltas) > 5
    balance, held = wallet(devstack, customer.account_id)
    costs = [nanos(response.usage.cost), nanos(final.usage.cost)]
    assert before - balance == sum(costs) and held == 0
    # and each is charged exactly its usage record's charge
    new = [
        r for r in usage_records(devstack, customer.account_id) if r["request_id"] not in earlier
    ]
    assert sorted(r["charge"] for r in new) == sorted(costs)
    assert {(r["endpoint"], r["model"]) for r in new} == {("responses", model)}


@pytest.mark.parametrize("model", MODELS)
def test_responses_parse_returns_the_pydantic_object_charged_its_record(devstack, customer, model):
    # given the SDK's Responses API with a Pydantic model as the text format
    client = openai_client(devstack, customer.api_key)

    # when a customer parses a response (OpenAI's models get it natively, the others translated)
    raw = client.responses.with_raw_response.parse(
        model=model, input="Plan my shipment", text_format=Shipment
    )

    # then the parsed object came, charged exactly its usage record's charge
    response = raw.parse()
    shipment = response.output_parsed
    assert isinstance(shipment, Shipment) and shipment.to.city and shipment.parcels
    assert response.model == model
    records = {r["request_id"]: r for r in usage_records(devstack, customer.account_id)}
    record = records[raw.headers["x-request-id"]]
    assert record["endpoint"] == "responses" and record["model"] == model
    assert nanos(response.usage.cost) == nanos(raw.headers["x-tollgate-cost"]) == record["charge"]


@pytest.mark.parametrize("model", MODELS)
def test_a_responses_tool_call_goes_round(devstack, customer, model):
    client = openai_client(devstack, customer.api_key)
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    }
    ask = {"role": "user", "content": "What is the weather in Paris?"}

    called = client.responses.create(model=model, input=[ask], tools=[tool])
    (call,) = [item for item in called.output if item.type == "function_call"]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}
    answered = client.responses.create(
        model=model, input=[ask, call.model_dump(exclude_none=True), output], tools=[tool]
    )

    assert call.name == "get_weather" and "city" in call.arguments
    assert [item.type for item in answered.output] == ["message"] and answered.output_text


def test_langchain_invokes_and_streams_through_the_responses_api(devstack, customer, monkeypatch):
    # given LangChain's OpenAI chat model on the Responses API, with LangSmith tracing off
    # (it would send the run to LangSmith's servers)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    chat = ChatOpenAI(
        model="anthropic/claude-haiku-4-5",
        base_url=devstack["OPENAI_BASE_URL"],
        api_key=customer.api_key,
        use_responses_api=True,
        max_retries=0,
    )
    seen = {r["request_id"] for r in usage_records(devstack, customer.account_id)}
    before, _ = wallet(devstack, customer.account_id)

    # when it invokes the model, then streams it
    answer = chat.invoke("Say hello")
    chunks = list(chat.stream("Stream please"))

    # then both come back whole, recorded as Responses calls, and charged what they recorded
    assert answer.text and len(chunks) > 5 and "".join(chunk.text for chunk in chunks)
    recorded = usage_records(devstack, customer.account_id)
    records = [r for r in recorded if r["request_id"] not in seen]
    assert [r["endpoint"] for r in records] == ["responses", "responses"]
    balance, held = wallet(devstack, customer.account_id)
    assert before - balance == sum(int(r["charge"]) for r in records) > 0
    assert held == 0


@function_tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny in {city}"


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"])
def test_an_openai_agents_sdk_agent_calls_its_tool_and_answers(devstack, customer, model):
    # given a one-tool agent on the Responses API, its tracing off (it would export the run
    # to OpenAI's servers)
    client = openai.AsyncOpenAI(
        base_url=devstack["OPENAI_BASE_URL"], api_key=customer.api_key, max_retries=0
    )
    agent = Agent(
        name="Forecaster",
        instructions="Answer with the weather tool.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )

    # when it runs on a question for its tool
    result = Runner.run_sync(
        agent, "What is the weather in Paris?", run_config=RunConfig(tracing_disabled=True)
    )

    # then it called the tool, was given its output, and finished with a text answer
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert result.new_items[1].output.startswith("Sunny in ")
    assert isinstance(result.final_output, str) and result.final_output
