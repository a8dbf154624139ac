"""Helpers for the fake Ollama's own tests (the fixtures live in tests/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from fake_ollama.testing import FakeOllamaProcess

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
USER_HELLO = [{"role": "user", "content": "Say hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city"],
        },
    },
}


def post(
    fake: FakeOllamaProcess,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST JSON ``body`` to the fake and read the whole answer."""
    return httpx.post(fake.url + path, json=body, headers=headers, timeout=timeout)


def chat(
    fake: FakeOllamaProcess,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    **body: Any,
) -> httpx.Response:
    """``POST /api/chat`` for gpt-oss:20b with one user message unless overridden."""
    body.setdefault("model", "gpt-oss:20b")
    body.setdefault("messages", USER_HELLO)
    return post(fake, "/api/chat", body, headers=headers, timeout=timeout)


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    """Every line of an NDJSON body, decoded; asserts the framing (``\\n`` after each object)."""
    raw = response.content
    assert raw.endswith(b"\n"), raw[-80:]
    return [orjson.loads(line) for line in raw.split(b"\n")[:-1]]
