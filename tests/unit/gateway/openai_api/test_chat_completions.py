"""``POST /v1/chat/completions`` without streaming, gateway wired to the fake Ollama."""

from __future__ import annotations

import json

import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import wait_until
from tests.unit.gateway.openai_api.chat_support import (
    HI,
    chat,
    last_upstream_body,
    post,
    sse_payloads,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_answer_has_content_reasoning_usage_and_asked_model_name(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=4, content_tokens=5)
    response = chat(gateway_url, gateway_api_key, model="gpt-oss-20b")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    reply = response.json()
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "gpt-oss-20b"  # the name asked for, not Ollama's
    assert last_upstream_body(fake_ollama)["model"] == "gpt-oss:20b"
    message = reply["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"] == "Fake answer to: hi lorem"
    assert message["reasoning"] == message["reasoning_content"] == "Reasoning (medium) about: hi"
    assert reply["choices"][0]["finish_reason"] == "stop"
    # prompt: 4 + 1 word; completion: 4 thinking + 5 content tokens (reasoning counts).
    assert reply["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}


def test_ids_are_unique_and_created_is_now(gateway_url: str, gateway_api_key: str) -> None:
    replies = [chat(gateway_url, gateway_api_key).json() for _ in range(3)]
    ids = {reply["id"] for reply in replies}
    assert len(ids) == 3
    assert all(i.startswith("chatcmpl-") and len(i) > 20 for i in ids)
    assert all(abs(reply["created"] - replies[0]["created"]) <= 2 for reply in replies)


def test_default_model_when_none_is_given(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reply = chat(gateway_url, gateway_api_key).json()
    assert reply["model"] == "gpt-oss:20b"
    assert last_upstream_body(fake_ollama)["model"] == "gpt-oss:20b"


def test_max_tokens_becomes_num_predict_and_length_is_reported(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reply = chat(gateway_url, gateway_api_key, max_tokens=3).json()
    assert last_upstream_body(fake_ollama)["options"]["num_predict"] == 3
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == ""  # reasoning used the whole budget
    assert reply["usage"]["completion_tokens"] == 3


def test_max_completion_tokens_becomes_num_predict(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    chat(gateway_url, gateway_api_key, max_completion_tokens=11, max_tokens=99)
    assert last_upstream_body(fake_ollama)["options"]["num_predict"] == 11


def test_sampling_options_reach_ollama(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    chat(gateway_url, gateway_api_key, temperature=0.3, top_p=0.5, seed=42, stop=["x", "y"])
    options = last_upstream_body(fake_ollama)["options"]
    assert options == {
        "temperature": 0.3,
        "top_p": 0.5,
        "seed": 42,
        # stop is matched by the gateway on the answer, never sent (Ollama would match reasoning)
        "num_predict": 32768,  # GATEWAY_MAX_OUTPUT_TOKENS: a request that sets no limit gets it
    }


def test_reasoning_effort_becomes_think(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reply = chat(gateway_url, gateway_api_key, reasoning_effort="high").json()
    assert last_upstream_body(fake_ollama)["think"] == "high"
    assert reply["choices"][0]["message"]["reasoning"].startswith("Reasoning (high)")
    chat(gateway_url, gateway_api_key, reasoning={"effort": "low"}, reasoning_effort="high")
    assert last_upstream_body(fake_ollama)["think"] == "low"


def test_response_format_json_object_and_schema(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reply = chat(gateway_url, gateway_api_key, response_format={"type": "json_object"}).json()
    assert last_upstream_body(fake_ollama)["format"] == "json"
    assert "answer" in json.loads(reply["choices"][0]["message"]["content"])

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}
    reply = chat(gateway_url, gateway_api_key, response_format=response_format).json()
    assert last_upstream_body(fake_ollama)["format"] == schema
    assert set(json.loads(reply["choices"][0]["message"]["content"])) == {"city", "temp"}


def test_tool_call_round_trip(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    ask = [{"role": "user", "content": "What is the weather in Tokyo? use get_weather"}]
    reply = chat(gateway_url, gateway_api_key, messages=ask, tools=[WEATHER_TOOL]).json()
    assert last_upstream_body(fake_ollama)["tools"] == [WEATHER_TOOL]
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    arguments = call["function"]["arguments"]
    assert isinstance(arguments, str)
    assert set(json.loads(arguments)) == {"city"}

    history = [
        *ask,
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"},
    ]
    reply = chat(gateway_url, gateway_api_key, messages=history, tools=[WEATHER_TOOL]).json()
    sent = last_upstream_body(fake_ollama)["messages"]
    assert sent[1]["tool_calls"] == [
        {"id": call["id"], "function": {"name": "get_weather", "arguments": json.loads(arguments)}}
    ]
    assert sent[1]["thinking"] == choice["message"]["reasoning"]
    assert sent[2] == {
        "role": "tool",
        "content": "sunny, 21 C",
        "tool_call_id": call["id"],
        "tool_name": "get_weather",
    }
    final = reply["choices"][0]
    assert final["finish_reason"] == "stop"
    assert final["message"]["content"].startswith("Fake answer using get_weather result: sunny")


def test_tool_choice_none_sends_no_tools(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reply = chat(gateway_url, gateway_api_key, tools=[WEATHER_TOOL], tool_choice="none").json()
    assert "tools" not in last_upstream_body(fake_ollama)
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_unknown_fields_are_accepted(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = chat(
        gateway_url,
        gateway_api_key,
        messages=[{"role": "user", "content": "hi", "refusal": None, "annotations": []}],
        logprobs=False,
        metadata={"team": "a"},
        store=False,
        service_tier="auto",
        user="end-user-1",
    )
    assert response.status_code == 200
    sent = last_upstream_body(fake_ollama)
    assert set(sent) == {"model", "messages", "stream", "options"}
    assert sent["options"] == {"num_predict": 32768}  # only the runaway guard
    assert sent["messages"] == HI


def test_content_parts_and_images_are_translated(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    parts = [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    chat(gateway_url, gateway_api_key, messages=[{"role": "user", "content": parts}])
    assert last_upstream_body(fake_ollama)["messages"] == [
        {"role": "user", "content": "describe", "images": ["iVBORw0KGgo="]}
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_stop_applies_to_the_answer_not_the_reasoning(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, stream: bool
) -> None:
    # Ollama 0.32.15 matches options.stop in the reasoning too (the fake does the same): a stop of
    # "." would end gpt-oss's reply before any answer. The gateway keeps it and matches it itself.
    # A long answer, paced: the generation is still running long after the match.
    fake_ollama.configure(content_tokens=400, token_delay=0.02)
    body = {
        "messages": [{"role": "user", "content": "Say hello. Then bye"}],
        "stop": ".",
        "stream": stream,
    }
    response = post(gateway_url, gateway_api_key, "/v1/chat/completions", body)
    assert response.status_code == 200
    if stream:
        payloads = [p for p in sse_payloads(response.content) if isinstance(p, dict)]
        deltas = [p["choices"][0]["delta"] for p in payloads if p.get("choices")]
        content = "".join(d.get("content") or "" for d in deltas)
        reasoning = "".join(d.get("reasoning") or "" for d in deltas)
        finish = [p["choices"][0]["finish_reason"] for p in payloads if p.get("choices")][-1]
    else:
        message = response.json()["choices"][0]["message"]
        content, reasoning = message["content"], message["reasoning"]
        finish = response.json()["choices"][0]["finish_reason"]
    assert content == "Fake answer to: Say hello"
    assert reasoning.startswith("Reasoning (medium) about: Say hello. Then bye")
    assert finish == "stop"
    assert "stop" not in last_upstream_body(fake_ollama).get("options", {})
    # The gateway closed the upstream request at the match: Ollama stopped generating.
    cancelled = wait_until(fake_ollama.cancelled, "the generation stopped upstream")
    assert cancelled[-1]["stage"] == "generating"
