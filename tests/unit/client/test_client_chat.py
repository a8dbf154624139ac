"""Requests the client sends and the typed results it returns (non-streaming endpoints)."""

from __future__ import annotations

import json

import httpx
import pytest

from gptoss import ChatResult, ComponentHealth, ToolCall, Usage

from .gptoss_fakes import (
    API_KEY,
    ScriptedGateway,
    chat_completion,
    client,
    json_reply,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_a_prompt_string_becomes_one_user_message_with_the_default_model() -> None:
    gateway = ScriptedGateway(json_reply(chat_completion()))
    with client(gateway) as c:
        c.chat("Say hi")
    request = gateway.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert gateway.body() == {
        "model": "gpt-oss:20b",
        "messages": [{"role": "user", "content": "Say hi"}],
    }


def test_options_are_sent_as_openai_fields() -> None:
    gateway = ScriptedGateway(json_reply(chat_completion()))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
    with client(gateway) as c:
        c.chat(
            messages,
            model="other",
            reasoning_effort="high",
            tools=[WEATHER_TOOL],
            response_format=schema,
            max_tokens=64,
            temperature=0.2,
            extra={"seed": 7},
        )
    assert gateway.body() == {
        "model": "other",
        "messages": messages,
        "reasoning_effort": "high",
        "tools": [WEATHER_TOOL],
        "response_format": schema,
        "max_tokens": 64,
        "temperature": 0.2,
        "seed": 7,
    }


def test_empty_messages_are_refused_before_sending() -> None:
    gateway = ScriptedGateway()
    with client(gateway) as c, pytest.raises(ValueError, match="messages"):
        c.chat([])
    assert gateway.requests == []


def test_chat_result_has_content_reasoning_usage_and_request_id() -> None:
    gateway = ScriptedGateway(json_reply(chat_completion("Hi there", reasoning="Think.")))
    with client(gateway) as c:
        result = c.chat("hi")
    assert result == ChatResult(
        content="Hi there",
        reasoning="Think.",
        tool_calls=(),
        finish_reason="stop",
        usage=Usage(prompt_tokens=12, completion_tokens=7, total_tokens=19),
        model="gpt-oss:20b",
        id="chatcmpl-1",
        request_id="req-200",
    )
    assert result.to_message() == {"role": "assistant", "content": "Hi there"}


def test_reasoning_content_is_read_when_reasoning_is_absent() -> None:
    completion = chat_completion()
    del completion["choices"][0]["message"]["reasoning"]
    completion["choices"][0]["message"]["reasoning_content"] = "Only here."
    with client(ScriptedGateway(json_reply(completion))) as c:
        assert c.chat("hi").reasoning == "Only here."


def test_tool_calls_are_typed_and_can_be_sent_back() -> None:
    call = {
        "id": "call_ab12cd34",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    gateway = ScriptedGateway(
        json_reply(chat_completion("", tool_calls=[call], finish_reason="tool_calls"))
    )
    with client(gateway) as c:
        result = c.chat("Weather in Paris?", tools=[WEATHER_TOOL])
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == (ToolCall("call_ab12cd34", "get_weather", '{"city": "Paris"}'),)
    assert result.tool_calls[0].parse_arguments() == {"city": "Paris"}
    assert result.to_message()["tool_calls"] == [call]


def test_invalid_tool_arguments_raise_value_error_when_parsed() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError is a ValueError
        ToolCall("c", "f", "{not json").parse_arguments()


def test_reasoning_tokens_are_read_from_usage_details() -> None:
    completion = chat_completion()
    completion["usage"]["completion_tokens_details"] = {"reasoning_tokens": 5}
    with client(ScriptedGateway(json_reply(completion))) as c:
        usage = c.chat("hi").usage
    assert usage is not None
    assert usage.reasoning_tokens == 5


def test_complete_posts_a_prompt_and_returns_the_text() -> None:
    reply = {
        "object": "text_completion",
        "model": "gpt-oss:20b",
        "choices": [{"index": 0, "text": "Paris.", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    gateway = ScriptedGateway(json_reply(reply))
    with client(gateway) as c:
        result = c.complete("The capital of France is", max_tokens=5, temperature=0.0)
    assert gateway.requests[0].url.path == "/v1/completions"
    assert gateway.body() == {
        "model": "gpt-oss:20b",
        "prompt": "The capital of France is",
        "max_tokens": 5,
        "temperature": 0.0,
    }
    assert (result.text, result.finish_reason, result.request_id) == ("Paris.", "stop", "req-200")


def test_embed_returns_one_vector_per_input_in_input_order() -> None:
    reply = {
        "object": "list",
        "model": "nomic-embed-text",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
            {"object": "embedding", "index": 0, "embedding": [1, 0]},
        ],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    gateway = ScriptedGateway(json_reply(reply))
    with client(gateway) as c:
        result = c.embed(["first", "second"], model="nomic-embed-text")
    assert gateway.body() == {"model": "nomic-embed-text", "input": ["first", "second"]}
    assert result.vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert result.usage == Usage(4, 0, 4)


def test_models_lists_ids_and_owners() -> None:
    reply = {
        "object": "list",
        "data": [
            {"id": "gpt-oss:20b", "object": "model", "created": 1754400000, "owned_by": "library"},
            {"id": "fast", "object": "model", "created": 0, "owned_by": "gateway"},
        ],
    }
    gateway = ScriptedGateway(json_reply(reply))
    with client(gateway) as c:
        models = c.models()
    assert (gateway.requests[0].method, gateway.requests[0].url.path) == ("GET", "/v1/models")
    assert [(m.id, m.owned_by, m.created) for m in models] == [
        ("gpt-oss:20b", "library", 1754400000),
        ("fast", "gateway", 0),
    ]


def test_health_ready_with_components() -> None:
    body = {
        "status": "ready",
        "components": {"ollama": {"status": "ok", "detail": "0.11.4"}, "redis": {"status": "ok"}},
    }
    with client(ScriptedGateway(json_reply(body))) as c:
        report = c.health()
    assert report.ready
    assert report.status == "ready"
    assert report.components == (
        ComponentHealth("ollama", ok=True, detail="0.11.4"),
        ComponentHealth("redis", ok=True, detail="ok"),
    )


def test_health_not_ready_is_a_report_not_an_error_and_is_not_retried() -> None:
    body = {
        "status": "not_ready",
        "components": [{"name": "ollama", "status": "down", "error": "connection refused"}],
    }
    gateway = ScriptedGateway(json_reply(body, 503, **{"Retry-After": "5"}))
    sleeps: list[float] = []
    with client(gateway, sleeps) as c:
        report = c.health()
    assert not report.ready
    assert report.components == (ComponentHealth("ollama", ok=False, detail="connection refused"),)
    assert (len(gateway.requests), sleeps) == (1, [])
    assert gateway.requests[0].url.path == "/health/ready"


def test_health_when_the_body_is_not_json() -> None:
    gateway = ScriptedGateway(httpx.Response(503, text="Service Unavailable"))
    with client(gateway) as c:
        report = c.health()
    assert (report.ready, report.status, report.components) == (False, "not ready", ())


def test_request_bodies_are_json() -> None:
    gateway = ScriptedGateway(json_reply(chat_completion()))
    with client(gateway) as c:
        c.chat("hi")
    assert gateway.requests[0].headers["content-type"] == "application/json"
    assert json.loads(gateway.requests[0].content)["messages"][0]["content"] == "hi"
