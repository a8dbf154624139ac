"""``POST /v1/responses`` through the official openai SDK, gateway wired to the fake Ollama."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, leaving_request, wait_until
from tests.unit.gateway.openai_api.sdk_clients import openai_client

WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(gateway_url: str, gateway_api_key: str) -> openai.OpenAI:
    """The openai SDK pointed at the session gateway."""
    return openai_client(gateway_url, gateway_api_key)


def last_chat_body(fake: FakeOllamaProcess) -> dict[str, Any]:
    """The body of the last ``/api/chat`` request the fake received."""
    body: dict[str, Any] = fake.requests(path="/api/chat")[-1]["body"]
    return body


def test_text_answer_has_output_text_reasoning_item_and_usage(
    client: openai.OpenAI, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=4, content_tokens=5)
    response = client.responses.create(
        model="gpt-oss-20b", input="hello", reasoning={"effort": "low"}
    )
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-oss-20b"
    assert response.output_text == "Fake answer to: hello lorem"
    reasoning, message = response.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary == []
    assert reasoning.content is not None
    assert reasoning.content[0].text == "Reasoning (low) about: hello"
    assert message.type == "message"
    assert message.role == "assistant"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 9)
    assert response.usage.total_tokens == 14
    assert last_chat_body(fake_ollama)["think"] == "low"
    assert last_chat_body(fake_ollama)["model"] == "gpt-oss:20b"


def test_instructions_and_limits_reach_ollama(
    client: openai.OpenAI, fake_ollama: FakeOllamaProcess
) -> None:
    client.responses.create(
        input="hi", instructions="Be brief.", max_output_tokens=50, temperature=0.3, top_p=0.5
    )
    body = last_chat_body(fake_ollama)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert body["options"] == {"temperature": 0.3, "top_p": 0.5, "num_predict": 50}
    assert body["stream"] is True


def test_small_max_output_tokens_gives_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(input="hi", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == ""  # the budget went to reasoning
    assert [item.type for item in response.output] == ["reasoning"]


def test_function_call_then_tool_result_round_trip(
    client: openai.OpenAI, fake_ollama: FakeOllamaProcess
) -> None:
    question: Any = {"role": "user", "content": "What is the weather in Paris? Use get_weather."}
    first = client.responses.create(input=[question], tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert call.call_id.startswith("call_")
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "fake-city"}
    assert first.output_text == ""
    tools = last_chat_body(fake_ollama)["tools"]
    assert tools[0]["function"]["name"] == "get_weather"

    follow_up = [question, *(item.to_dict() for item in first.output)]
    follow_up.append({"type": "function_call_output", "call_id": call.call_id, "output": "18C"})
    second = client.responses.create(input=follow_up, tools=[WEATHER_TOOL])
    assert second.output_text.startswith("Fake answer using get_weather result: 18C")
    messages = last_chat_body(fake_ollama)["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["arguments"] == {"city": "fake-city"}
    assert messages[-2]["thinking"].startswith("Reasoning")
    assert messages[-1] == {
        "role": "tool",
        "content": "18C",
        "tool_call_id": call.call_id,
        "tool_name": "get_weather",
    }


def test_json_schema_format_gives_matching_json(
    client: openai.OpenAI, fake_ollama: FakeOllamaProcess
) -> None:
    schema: Any = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
    }
    response = client.responses.create(
        input="weather?",
        text={"format": {"type": "json_schema", "name": "weather", "schema": schema}},
    )
    assert set(json.loads(response.output_text)) == {"city", "temp"}
    assert last_chat_body(fake_ollama)["format"] == schema


def test_stream_sends_typed_events_ending_in_completed(client: openai.OpenAI) -> None:
    with client.responses.create(input="hello", stream=True) as stream:
        events = list(stream)
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.reasoning_text.delta" in types
    assert "response.output_text.done" in types
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == text
    assert text.startswith("Fake answer to: hello")
    assert final.usage is not None
    assert final.usage.output_tokens > 0


def test_sdk_stream_helper_accumulates_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="gpt-oss-20b", input="Weather in Rome? Use get_weather.", tools=[WEATHER_TOOL]
    ) as stream:
        names = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.done" in names
    call = final.output[-1]
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"city": "fake-city"}
    assert final.status == "completed"


def test_stream_has_sse_headers(gateway_url: str, gateway_api_key: str) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/responses",
        json={"input": "hi", "stream": True},
        headers={"Authorization": f"Bearer {gateway_api_key}"},
        timeout=10,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.text.startswith("event: response.created\ndata: {")


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_raises_not_found(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="no-such-model:1b", input="hi", stream=stream)
    assert caught.value.code == "model_not_found"


def test_previous_response_id_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(input="hi", previous_response_id="resp_123")
    assert caught.value.param == "previous_response_id"
    assert "stateless" in caught.value.message


def test_busy_ollama_is_503_before_the_stream_starts(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="fault-busy", input="hi", stream=True)
    assert caught.value.status_code == 503
    assert caught.value.code == "server_busy"


def test_failure_mid_stream_ends_with_response_failed(client: openai.OpenAI) -> None:
    with client.responses.create(model="fault-midstream-error", input="hi", stream=True) as s:
        events = list(s)
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed"
    assert failed.error is not None
    assert "an error was encountered while running the model" in failed.error.message


def _wait_cancelled(fake: FakeOllamaProcess) -> dict[str, Any]:
    """The one cancelled upstream request, cut short (``fault-slow`` would last a minute)."""
    (entry,) = wait_until(fake.cancelled, "the fake Ollama saw the gateway hang up")
    assert entry["tokens_emitted"] < fake.configure()["slow_tokens"]
    return entry


def test_client_leaving_a_stream_cancels_ollama(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/responses",
        json={"model": "fault-slow", "input": "hi", "stream": True},
        headers={"Authorization": f"Bearer {gateway_api_key}"},
        timeout=PATIENCE,
    ) as response:
        lines = response.iter_lines()
        assert next(lines) == "event: response.created"
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the request reached Ollama")
    assert _wait_cancelled(fake_ollama)["path"] == "/api/chat"


def test_client_leaving_a_whole_answer_cancels_ollama(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    with leaving_request(
        f"{gateway_url}/v1/responses",
        {"model": "fault-slow", "input": "hi"},
        {"Authorization": f"Bearer {gateway_api_key}"},
    ):
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the request reached Ollama")
    assert _wait_cancelled(fake_ollama)["path"] == "/api/chat"
