"""The API as a LAN user sees it: everything through nginx, with the official OpenAI SDK."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.stack import Stack, StackSettings

pytestmark = pytest.mark.e2e

PUBLIC_MODEL = "gpt-oss-20b"


def test_chat_completion_through_nginx(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=PUBLIC_MODEL, messages=[{"role": "user", "content": "Say hello"}]
    )
    completion = raw.parse()

    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert raw.headers["x-request-id"]
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["server"] == "nginx", "server_tokens off: no version in the Server header"


def test_streamed_chat_arrives_token_by_token(
    client: openai.OpenAI, stack_settings: StackSettings
) -> None:
    started = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    stream = client.chat.completions.create(
        model=PUBLIC_MODEL, messages=[{"role": "user", "content": "Count slowly"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
            pieces.append(chunk.choices[0].delta.content)

    produce_time = stack_settings.content_tokens * stack_settings.token_delay
    assert len(pieces) >= stack_settings.content_tokens // 2
    assert "".join(pieces).strip()
    # Buffered anywhere on the way (nginx, gateway), all chunks would land together at the end.
    assert arrivals[-1] - arrivals[0] >= produce_time * 0.6, arrivals


def test_wrong_key_is_refused_in_openai_shape(ready_stack: Stack) -> None:
    with (
        openai.OpenAI(
            base_url=f"{ready_stack.base_url}/v1", api_key="sk-not-a-key", max_retries=0
        ) as sdk,
        pytest.raises(openai.AuthenticationError) as refused,
    ):
        sdk.chat.completions.create(
            model=PUBLIC_MODEL, messages=[{"role": "user", "content": "hi"}]
        )

    assert refused.value.status_code == 401


def test_oversized_body_gets_openai_shaped_413(
    client: openai.OpenAI, stack_settings: StackSettings
) -> None:
    huge = "a" * (stack_settings.max_body_bytes + 1024)

    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(
            model=PUBLIC_MODEL, messages=[{"role": "user", "content": huge}]
        )

    assert refused.value.status_code == 413
    error = refused.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert "too large" in error["message"]


def test_request_id_is_kept_or_minted(ready_stack: Stack) -> None:
    url = f"{ready_stack.base_url}/health/live"

    given = httpx.get(url, headers={"X-Request-ID": "e2e-trace-42"}, timeout=10)
    minted = httpx.get(url, timeout=10)
    hostile = httpx.get(url, headers={"X-Request-ID": "bad id with spaces"}, timeout=10)

    assert given.headers["x-request-id"] == "e2e-trace-42"
    assert len(minted.headers["x-request-id"]) >= 16
    assert hostile.headers["x-request-id"] != "bad id with spaces"


def test_model_management_is_refused_to_an_ordinary_key(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    response = httpx.post(
        f"{ready_stack.base_url}/api/pull",
        json={"model": "gpt-oss:120b"},
        headers={"Authorization": f"Bearer {stack_settings.api_key}"},
        timeout=10,
    )

    assert response.status_code == 403, response.text
    assert "pulling gpt-oss:120b" not in ready_stack.logs("ollama")


def test_metrics_through_nginx_need_the_token(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    url = f"{ready_stack.base_url}/metrics"

    anonymous = httpx.get(url, timeout=10)
    scraper = httpx.get(
        url, headers={"Authorization": f"Bearer {stack_settings.metrics_token}"}, timeout=10
    )

    assert anonymous.status_code == 401
    assert scraper.status_code == 200
    assert "# TYPE" in scraper.text
    assert "gateway_" in scraper.text


def test_nginx_health_answers_by_itself(ready_stack: Stack) -> None:
    response = httpx.get(f"{ready_stack.base_url}/nginx-health", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_gptoss_health_is_green_through_nginx(
    ready_stack: Stack, stack_settings: StackSettings
) -> None:
    gptoss = Path(sys.executable).with_name("gptoss")
    options = ["--base-url", ready_stack.base_url, "--api-key", stack_settings.api_key]
    done = subprocess.run(
        [str(gptoss), *options, "health"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("nginx", "gateway", "api key", "ready", "ollama", "model", "generation"):
        assert any(line.startswith(f"✓ {name} ") for line in lines), (name, done.stdout)
