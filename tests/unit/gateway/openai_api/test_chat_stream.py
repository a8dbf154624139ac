"""Streaming ``/v1/chat/completions``: SSE framing byte for byte, headers, usage, tool deltas."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, wait_until
from tests.unit.gateway.openai_api.chat_support import auth, chat, sse_payloads

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def expected_stream(first: dict[str, Any], deltas: list[dict[str, Any]], finish: str) -> bytes:
    """The exact SSE bytes of a stream with ``first``'s id/created/model and these deltas."""
    envelope = {k: first[k] for k in ("id", "object", "created", "model")}

    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return event({**envelope, "choices": [choice]})

    body = chunk({"role": "assistant", "content": ""})
    body += b"".join(chunk(delta) for delta in deltas)
    body += chunk({}, finish)
    return body


def test_stream_framing_byte_for_byte(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=2, content_tokens=3)
    response = chat(
        gateway_url,
        gateway_api_key,
        model="gpt-oss-20b",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    first = sse_payloads(response.content)[0]
    assert first["id"].startswith("chatcmpl-")
    assert first["object"] == "chat.completion.chunk"
    assert first["model"] == "gpt-oss-20b"
    deltas = [
        {"reasoning": "Reasoning", "reasoning_content": "Reasoning"},
        {"reasoning": " (medium)", "reasoning_content": " (medium)"},
        {"content": "Fake"},
        {"content": " answer"},
        {"content": " to:"},
    ]
    usage = {
        "id": first["id"],
        "object": "chat.completion.chunk",
        "created": first["created"],
        "model": "gpt-oss-20b",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    expected = expected_stream(first, deltas, "stop")
    expected += b"data: " + orjson.dumps(usage) + b"\n\n" + b"data: [DONE]\n\n"
    assert response.content == expected


def test_stream_without_include_usage_has_no_usage_chunk(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=1, content_tokens=1)
    response = chat(gateway_url, gateway_api_key, stream=True)
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    assert all("usage" not in p for p in payloads[:-1])
    assert response.content == expected_stream(
        payloads[0],
        [{"reasoning": "Reasoning", "reasoning_content": "Reasoning"}, {"content": "Fake"}],
        "stop",
    ) + (b"data: [DONE]\n\n")


def test_stream_length_finish(gateway_url: str, gateway_api_key: str) -> None:
    response = chat(gateway_url, gateway_api_key, stream=True, max_tokens=2)
    payloads = sse_payloads(response.content)
    assert payloads[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }


def test_stream_tool_call_delta(gateway_url: str, gateway_api_key: str) -> None:
    response = chat(gateway_url, gateway_api_key, stream=True, tools=[TOOL])
    payloads = sse_payloads(response.content)
    deltas = [p["choices"][0]["delta"] for p in payloads[1:-2]]
    calls = [delta["tool_calls"] for delta in deltas if "tool_calls" in delta]
    assert len(calls) == 1
    [call] = calls[0]
    assert call["index"] == 0
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"] == {"name": "lookup", "arguments": '{"q":"fake-q"}'}
    assert payloads[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert payloads[-1] == "[DONE]"


def test_stream_events_arrive_incrementally(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # fault-slow: 1200 tokens 50 ms apart. Each event is relayed as its token comes, while
    # Ollama is still generating, not in one burst at the end (or every few kB).
    fake_ollama.configure(thinking_tokens=0)
    body = {"model": "fault-slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/chat/completions",
        json=body,
        headers=auth(gateway_api_key),
        timeout=PATIENCE,
    ) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        assert '"role":"assistant"' in first
        second = next(line for line in lines if line)
        assert '"content":"Fake"' in second
        (upstream,) = fake_ollama.requests(path="/api/chat")
        assert "duration_ms" not in upstream, "the first token came while Ollama generated"
    (cancelled,) = wait_until(fake_ollama.cancelled, "the fake Ollama saw the client leave")
    # A gateway holding events back would have let Ollama produce many more by then.
    assert cancelled["tokens_emitted"] < 400
