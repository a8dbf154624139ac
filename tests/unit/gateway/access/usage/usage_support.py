"""Helpers for the usage tests: keys with budgets, chats, and reading ``/v1/me``."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.waiting import wait_until
from tests.unit.gateway.access.ratelimit_support import bearer

HI = [{"role": "user", "content": "hi"}]


def secret(name: str) -> str:
    """The test secret of the key called ``name``."""
    return f"sk-{name}-0123456789abcdef0123456789abcdef"


def chat(url: str, name: str, **body: Any) -> httpx.Response:
    """A chat completion with the key called ``name``, on a fresh connection."""
    payload = {"model": "gpt-oss-20b", "messages": HI, **body}
    with httpx.Client(timeout=30) as client:
        return client.post(f"{url}/v1/chat/completions", headers=bearer(secret(name)), json=payload)


def me(url: str, name: str) -> httpx.Response:
    """``GET /v1/me`` with the key called ``name``."""
    with httpx.Client(timeout=30) as client:
        return client.get(f"{url}/v1/me", headers=bearer(secret(name)))


def today(url: str, name: str) -> dict[str, Any]:
    """The key's usage today, as ``/v1/me`` reports it."""
    reply = me(url, name)
    assert reply.status_code == 200, reply.text
    day: dict[str, Any] = reply.json()["usage"]["day"]
    return day


def today_once(url: str, name: str, requests: int) -> dict[str, Any]:
    """The key's usage today once ``requests`` requests are charged (waits for the charges)."""
    found: list[dict[str, Any]] = []

    def charged() -> bool:
        found[:] = [today(url, name)]
        return bool(found[0]["requests"] == requests)

    wait_until(charged, f"{requests} requests of {name} charged", step=0.05)
    return found[0]
