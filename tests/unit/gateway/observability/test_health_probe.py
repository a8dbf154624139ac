"""The background readiness probe: periodic, survives surprises, stops with its block."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.observability.health import ReadinessChecker
from gateway.settings import Settings

TAGS = {"models": [{"name": "gpt-oss:20b", "model": "gpt-oss:20b"}]}


async def test_the_probe_keeps_running_through_unexpected_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug somewhere below")
        return httpx.Response(200, json=TAGS)

    settings = Settings(probe_interval_seconds=0.01, ready_cache_seconds=0)
    async with httpx.AsyncClient(
        base_url="http://ollama", transport=httpx.MockTransport(handler)
    ) as http:
        checker = ReadinessChecker(settings, http)
        async with checker.probing():
            for _ in range(200):
                if len(calls) >= 4:
                    break
                await asyncio.sleep(0.01)
        seen = len(calls)
        await asyncio.sleep(0.05)
        stopped = len(calls) == seen
        assert (await checker.check()).ready
    assert seen >= 4, "the probe went on after the error"
    assert stopped, "the probe stopped with its block"
    assert "background readiness probe failed" in caplog.text


async def test_a_non_list_answer_means_ollama_is_not_usable() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=b"<html>proxy</html>"))
    async with httpx.AsyncClient(base_url="http://ollama", transport=transport) as http:
        result = await ReadinessChecker(Settings(), http).check()
    assert not result.ready
    body = result.body()
    assert body["components"]["ollama"]["status"] == "down"
    assert "HTTP 200, not a model list" in body["components"]["ollama"]["detail"]
    assert body["components"]["model"]["status"] == "unknown"
