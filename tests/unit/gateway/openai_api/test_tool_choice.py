"""``tool_choice`` is enforced, never silently ignored (chat and responses, against the fake).

The fake answers a conversation that ends with a tool result in text, and calls a tool when the
last message is the user's: so ``required`` after a tool result needs the gateway's second try.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.errors import ToolChoiceNotFollowed
from gateway.openai_api.tool_demand import ToolDemand

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
AFTER_A_TOOL_RESULT = [
    {"role": "user", "content": "weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def chat(url: str, key: str, **fields: Any) -> httpx.Response:
    """``POST /v1/chat/completions``."""
    body = {"model": "gpt-oss:20b", **fields}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def chat_requests(fake: FakeOllamaProcess) -> list[dict[str, Any]]:
    """The bodies of the ``/api/chat`` requests the fake received, oldest first."""
    return [entry["body"] for entry in fake.requests(path="/api/chat")]


@pytest.mark.parametrize("stream", [False, True])
def test_required_is_asked_again_with_an_instruction_until_a_tool_is_called(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, stream: bool
) -> None:
    response = chat(
        gateway_url,
        gateway_api_key,
        messages=AFTER_A_TOOL_RESULT,
        tools=[WEATHER, TIME],
        tool_choice="required",
        stream=stream,
    )
    assert response.status_code == 200, response.text
    assert '"tool_calls"' in response.text
    first, second = chat_requests(fake_ollama)
    assert first["messages"][-1]["role"] == "tool"
    instruction = second["messages"][-1]
    assert instruction["role"] == "user"
    assert "one of the tools" in instruction["content"]


def test_a_named_function_is_the_only_tool_offered(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    reply = chat(
        gateway_url,
        gateway_api_key,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER, TIME],
        tool_choice=choice,
    ).json()
    (sent,) = chat_requests(fake_ollama)
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["get_time"]
    assert reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"


def test_an_unknown_named_function_is_a_400(gateway_url: str, gateway_api_key: str) -> None:
    choice = {"type": "function", "function": {"name": "get_stock"}}
    response = chat(
        gateway_url,
        gateway_api_key,
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER],
        tool_choice=choice,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tool_choice"
    assert "'get_stock'" in error["message"]


def test_required_without_function_tools_is_a_400(gateway_url: str, gateway_api_key: str) -> None:
    body = {"input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "required"}
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    response = httpx.post(f"{gateway_url}/v1/responses", json=body, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_choice"
    assert "no function tools" in response.json()["error"]["message"]


def test_responses_required_is_enforced_too(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {
        "input": [
            {"type": "message", "role": "user", "content": "weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": json.dumps({"city": "Paris"}),
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        "tool_choice": "required",
    }
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    response = httpx.post(f"{gateway_url}/v1/responses", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["output"][-1]["type"] == "function_call"
    assert len(chat_requests(fake_ollama)) == 2


def test_an_answer_that_never_calls_is_a_502_after_one_retry() -> None:
    bodies: list[dict[str, Any]] = []
    reasons: list[str] = []

    async def text_only(body: dict[str, Any]) -> AsyncGenerator[dict[str, Any]]:
        bodies.append(body)
        yield {"message": {"role": "assistant", "content": "no"}, "done": True}

    async def drain() -> None:
        demand = ToolDemand.of("required", ["get_weather"])
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async for _ in demand.chunks(text_only, body, reasons.append):
            pass

    with pytest.raises(ToolChoiceNotFollowed) as caught:
        asyncio.run(drain())
    assert caught.value.status == 502
    assert caught.value.code == "tool_choice_not_followed"
    assert "tool_choice 'auto'" in caught.value.message
    assert len(bodies) == 2
    assert reasons == [
        "the answer called no tool, and tool_choice demands one of the tools you were given"
    ]
