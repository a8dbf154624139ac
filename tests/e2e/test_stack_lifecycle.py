"""The stack's life: first model download, restarts, an unreachable gateway, what is published."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import chat_request
from tests.e2e.stack import SERVICES, Stack, StackSettings, wait_until

pytestmark = pytest.mark.e2e


def test_chat_says_still_downloading_until_the_pull_ends(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    # A fresh fake Ollama starts without the model: the real entrypoint pulls it again (its first
    # pull fails on purpose and is retried), while the gateway stays up and says what is going on.
    ready_stack.run("restart", "ollama")

    def downloading_503() -> httpx.Response | None:
        response = chat_request(ready_stack, stack_settings)
        return response if "still downloading" in response.text else None

    def readiness_says_downloading() -> dict[str, Any] | None:
        response = httpx.get(f"{ready_stack.base_url}/health/ready", timeout=10)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 503 else None

    waiting = wait_until(downloading_503, timeout=30, what="the 'still downloading' answer")
    readiness = wait_until(readiness_says_downloading, timeout=10, what="readiness to say so")
    done = wait_until(
        lambda: r if (r := chat_request(ready_stack, stack_settings)).status_code == 200 else None,
        timeout=60,
        what="chat to work once the pull has finished",
    )

    assert waiting.status_code == 503
    error = waiting.json()["error"]
    assert stack_settings.model in error["message"]
    assert "docker compose logs -f ollama" in error["message"]
    assert readiness["components"]["model"]["status"] == "downloading"
    assert done.json()["choices"][0]["message"]["content"]
    ollama_logs = ready_stack.logs("ollama")
    assert "failed: " in ollama_logs, ollama_logs
    assert "retrying in 1s" in ollama_logs, ollama_logs
    assert f"{stack_settings.model} is ready" in ollama_logs


def test_gateway_restart_is_survived(ready_stack: Stack, stack_settings: StackSettings) -> None:
    ready_stack.run("restart", "gateway")

    answered = wait_until(
        lambda: r if (r := chat_request(ready_stack, stack_settings)).status_code == 200 else None,
        timeout=60,
        what="chat to work again after `docker compose restart gateway`",
    )

    assert answered.json()["choices"][0]["message"]["content"]


def test_stopped_gateway_gives_an_openai_shaped_error(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    ready_stack.run("stop", "gateway")
    try:
        response = chat_request(ready_stack, stack_settings)
    finally:
        ready_stack.run("start", "gateway")
        wait_until(
            lambda: True if chat_request(ready_stack, stack_settings).status_code == 200 else None,
            timeout=60,
            what="the gateway to come back",
        )

    # 502 when the connection is refused, 504 when the stopped container's address is silent.
    assert response.status_code in (502, 504)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert "docker compose logs gateway" in error["message"]


def test_only_nginx_is_published_and_only_on_loopback(stack: Stack) -> None:
    published = {service: stack.published_ports(service) for service in SERVICES}

    assert published["ollama"] == {}, "Ollama has no authentication: it must never be published"
    assert published["gateway"] == {}
    assert published["redis"] == {}
    assert list(published["nginx"]) == ["80/tcp"]
    assert all(ip == "127.0.0.1" for ip, _ in published["nginx"]["80/tcp"])
