"""Helpers for the chat / completions tests: calls through the gateway, the fake's records."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from fake_ollama.testing import FakeOllamaProcess

HI = [{"role": "user", "content": "hi"}]


def auth(key: str, **headers: str) -> dict[str, str]:
    """Headers with the bearer key (plus extra headers)."""
    return {"Authorization": f"Bearer {key}", **headers}


def post(
    url: str, key: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` as JSON to the gateway, reading the whole answer."""
    return httpx.post(f"{url}{path}", json=body, headers=auth(key, **(headers or {})), timeout=10)


def chat(url: str, key: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    """``POST /v1/chat/completions`` (``messages`` defaults to one user "hi")."""
    body.setdefault("messages", HI)
    return post(url, key, "/v1/chat/completions", body, headers)


def last_upstream_body(fake: FakeOllamaProcess, path: str = "/api/chat") -> dict[str, Any]:
    """Body of the last request the fake Ollama received on ``path``."""
    entries = fake.requests(path)
    assert entries, f"the fake received no request on {path}"
    body: dict[str, Any] = entries[-1]["body"]
    return body


def sse_payloads(raw: bytes) -> list[Any]:
    """The JSON payloads of an SSE body (``[DONE]`` kept as the string ``"[DONE]"``)."""
    events = raw.split(b"\n\n")
    assert events[-1] == b"", "an SSE body ends with a blank line"
    payloads: list[Any] = []
    for event in events[:-1]:
        assert event.startswith(b"data: "), event
        data = event[len(b"data: ") :]
        payloads.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return payloads
