"""The usage ledger in the compose stack: it survives restarts of Redis (AOF on the redis-data
volume) and of the gateway, `gateway keys usage` reports it, and a budget set with
`gateway keys update` applies to the running stack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack, StackSettings
from tests.e2e.traffic import get, new_key, post, wait_for

pytestmark = pytest.mark.e2e

CHATS = 3


def chat(stack: Stack, settings: StackSettings, key: str) -> httpx.Response:
    """One small chat completion with ``key`` through nginx (599: no answer at all)."""
    body = {"model": settings.model, "messages": [{"role": "user", "content": "ping"}]}
    return post(stack, key, "/v1/chat/completions", body)


def day_usage(stack: Stack, key: str) -> dict[str, Any] | None:
    """The key's usage today from ``/v1/me`` (None while the stack does not answer it)."""
    reply = get(stack, "/v1/me", key)
    return reply.json()["usage"]["day"] if reply.status_code == 200 else None


def test_the_ledger_survives_restarts_and_budgets_apply_to_the_running_stack(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    name, key = new_key(ready_stack, "ledger", "--rpm", "0", "--tpm", "0")
    answers = [chat(ready_stack, stack_settings, key) for _ in range(CHATS)]
    assert [a.status_code for a in answers] == [200] * CHATS
    tokens = sum(a.json()["usage"]["total_tokens"] for a in answers)

    def charged() -> dict[str, Any] | None:
        day = day_usage(ready_stack, key)
        return day if day is not None and day["requests"] == CHATS else None

    before = wait_for(charged, timeout=30, what="the chats charged")
    assert before["total_tokens"] == tokens

    ready_stack.run("restart", "redis")
    after_redis = wait_for(charged, timeout=60, what="/v1/me after `restart redis`")
    assert after_redis == before, "Redis's append-only file kept the ledger"
    ready_stack.run("restart", "gateway")
    after_gateway = wait_for(charged, timeout=90, what="/v1/me after `restart gateway`")
    assert after_gateway == before

    report = ready_stack.exec("gateway", "gateway", "keys", "usage", "--key", name).stdout
    row = next(line.split() for line in report.splitlines() if f" {name} " in f" {line} ")
    assert (row[3], row[4], row[8]) == (stack_settings.model, str(CHATS), str(tokens))

    ready_stack.exec("gateway", "gateway", "keys", "update", name, "--daily-requests", str(CHATS))

    def refused() -> httpx.Response | None:
        reply = chat(ready_stack, stack_settings, key)
        return reply if reply.status_code == 429 else None

    error = wait_for(refused, timeout=30, what="the new budget applied").json()["error"]
    assert error["code"] == "insufficient_quota"
    assert "resets at" in error["message"]
