"""`AsyncClient` gives the same results, errors and retry behaviour as `Client`."""

from __future__ import annotations

import httpx
import pytest

import gptoss
from gptoss import ContentDelta, Done, ReasoningDelta, Usage

from .gptoss_fakes import (
    ANSWER_EVENTS,
    ScriptedGateway,
    async_client,
    chat_completion,
    chunk,
    error_reply,
    json_reply,
    sse,
    stream_reply,
)


async def test_chat_returns_the_typed_result() -> None:
    gateway = ScriptedGateway(json_reply(chat_completion("Hi!", reasoning="R.")))
    async with async_client(gateway) as c:
        result = await c.chat("hello", reasoning_effort="medium")
    assert (result.content, result.reasoning, result.request_id) == ("Hi!", "R.", "req-200")
    assert gateway.body()["reasoning_effort"] == "medium"


async def test_stream_chat_yields_the_same_events_as_the_sync_client() -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    async with async_client(gateway) as c:
        events = [event async for event in c.stream_chat("hi")]
    assert events == [
        ReasoningDelta("Greet "),
        ReasoningDelta("back."),
        ContentDelta("Hello"),
        ContentDelta(" there!"),
        Usage(12, 9, 21, reasoning_tokens=5),
        Done("stop", "req-stream"),
    ]


async def test_retry_after_is_awaited_with_the_injected_sleep() -> None:
    gateway = ScriptedGateway(
        error_reply(429, "slow down", **{"Retry-After": "3"}), json_reply(chat_completion())
    )
    sleeps: list[float] = []
    async with async_client(gateway, sleeps) as c:
        await c.chat("hi")
    assert len(gateway.requests) == 2
    assert 3.0 <= sleeps[0] <= 3.3


async def test_errors_keep_status_and_request_id() -> None:
    gateway = ScriptedGateway(error_reply(401, "Invalid API key.", code="invalid_api_key"))
    async with async_client(gateway) as c:
        with pytest.raises(gptoss.AuthenticationError) as caught:
            await c.models()
    assert (caught.value.status_code, caught.value.request_id) == (401, "req-401")


async def test_mid_stream_failure_is_not_resent() -> None:
    gateway = ScriptedGateway(
        stream_reply(sse(chunk({"content": "a"})), httpx.ReadError("reset")),
        stream_reply(sse(*ANSWER_EVENTS)),
    )
    sleeps: list[float] = []
    received: list[object] = []

    async def consume(c: gptoss.AsyncClient) -> None:
        async for event in c.stream_chat("hi"):
            received.append(event)

    async with async_client(gateway, sleeps) as c:
        with pytest.raises(gptoss.APIConnectionError):
            await consume(c)
    assert (received, len(gateway.requests), sleeps) == ([ContentDelta("a")], 1, [])


async def test_timeout_is_a_timeout_error() -> None:
    gateway = ScriptedGateway(httpx.ReadTimeout("slow"))
    async with async_client(gateway) as c:
        with pytest.raises(gptoss.APITimeoutError):
            await c.complete("x")


async def test_other_endpoints() -> None:
    gateway = ScriptedGateway(
        json_reply({"choices": [{"text": "t", "finish_reason": "stop"}]}),
        json_reply({"data": [{"index": 0, "embedding": [0.5]}]}),
        json_reply({"data": [{"id": "gpt-oss:20b"}]}),
        json_reply({"status": "ok", "components": {}}),
    )
    async with async_client(gateway) as c:
        assert (await c.complete("x")).text == "t"
        assert (await c.embed("x")).vectors == [[0.5]]
        assert [m.id for m in await c.models()] == ["gpt-oss:20b"]
        assert (await c.health()).ready
    assert [r.url.path for r in gateway.requests] == [
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/health/ready",
    ]
