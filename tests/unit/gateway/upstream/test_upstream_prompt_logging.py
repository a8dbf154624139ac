"""Prompt text reaches the logs only when an operator opts in (GATEWAY_LOG_PROMPTS + DEBUG)."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from gateway.settings import Settings
from gateway.upstream.client import OllamaClient

FINAL = {"model": "gpt-oss:20b", "message": {"role": "assistant", "content": "hi"}, "done": True}
BODY = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "my secret plans"}]}


def _ollama(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(FINAL) + b"\n")


async def _generate(settings: Settings) -> None:
    client = OllamaClient(settings, transport=httpx.MockTransport(_ollama))
    try:
        chunks = [chunk async for chunk in client.generate("/api/chat", BODY)]
    finally:
        await client.aclose()
    assert chunks == [FINAL]


def _prompt_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.upstream"]


async def test_prompts_are_not_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.upstream")
    await _generate(Settings(ollama_url="http://ollama.test"))
    assert _prompt_records(caplog) == []
    assert "my secret plans" not in caplog.text


async def test_prompts_are_logged_at_debug_when_opted_in(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.upstream")
    await _generate(Settings(ollama_url="http://ollama.test", log_prompts=True))
    (record,) = _prompt_records(caplog)
    assert record.levelno == logging.DEBUG
    assert record.__dict__["prompt"] == BODY["messages"]
