"""Rate limits through a real gateway: OpenAI headers, 429s, tokens charged from real usage
(streams and disconnects included), the concurrency cap."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, ollama_held, wait_until
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys

KEY = "sk-rl-0123456789abcdef0123456789abcdef01"
HI = [{"role": "user", "content": "hi"}]
TRIO = ("limit", "remaining", "reset")


@pytest.fixture
def start(gateway_factory: Callable[..., str], tmp_path: Path) -> Callable[..., str]:
    """Start a gateway whose only key has the given limits (rpm/tpm/max_concurrent)."""

    def starter(**limits: int) -> str:
        path = tmp_path / "keys.json"
        write_keys(path, key_record(KEY, "rl", **limits))
        return gateway_factory(api_keys="", keys_file=path)

    return starter


def get_models(url: str) -> httpx.Response:
    """GET /v1/models with the key."""
    return httpx.get(f"{url}/v1/models", headers=bearer(KEY), timeout=10)


def chat(url: str, **body: Any) -> httpx.Response:
    """A chat completion with the key."""
    payload = {"model": "gpt-oss-20b", "messages": HI, **body}
    return httpx.post(f"{url}/v1/chat/completions", headers=bearer(KEY), json=payload, timeout=30)


def remaining_tokens(url: str) -> int:
    """What the tokens window has left, read off a cheap request's headers."""
    return int(get_models(url).headers["x-ratelimit-remaining-tokens"])


def test_v1_responses_carry_the_six_openai_headers(start: Callable[..., str]) -> None:
    url = start(rpm=5, tpm=1000)
    headers = get_models(url).headers
    assert [headers[f"x-ratelimit-{k}-requests"] for k in TRIO] == ["5", "4", "1m0s"]
    assert [headers[f"x-ratelimit-{k}-tokens"] for k in TRIO] == ["1000", "1000", "0s"]
    assert get_models(url).headers["x-ratelimit-remaining-requests"] == "3"
    streamed = chat(url, stream=True)
    assert streamed.headers["x-ratelimit-remaining-requests"] == "2", "streams carry them too"


def test_native_api_is_counted_but_carries_no_openai_headers(start: Callable[..., str]) -> None:
    url = start(rpm=2, tpm=0)
    native = httpx.get(f"{url}/api/tags", headers=bearer(KEY))
    assert native.status_code == 200
    assert not any(h.startswith("x-ratelimit") for h in native.headers)
    assert get_models(url).headers["x-ratelimit-remaining-requests"] == "0"
    assert httpx.get(f"{url}/api/tags", headers=bearer(KEY)).status_code == 429


def test_request_limit_429_is_openai_shaped(start: Callable[..., str]) -> None:
    url = start(rpm=2, tpm=0)
    assert [get_models(url).status_code for _ in range(2)] == [200, 200]
    refused = get_models(url)
    assert refused.status_code == 429
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert "requests per minute" in error["message"]
    assert "try again in" in error["message"]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.models.list()


def test_tokens_are_charged_from_real_usage_and_then_refused(start: Callable[..., str]) -> None:
    url = start(rpm=0, tpm=60)
    whole = chat(url)
    assert whole.status_code == 200
    used = whole.json()["usage"]["total_tokens"]
    assert used > 0
    assert remaining_tokens(url) == 60 - used
    streamed = chat(url, stream=True, stream_options={"include_usage": True})
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: {")]
    stream_used = orjson.loads(events[-1])["usage"]["total_tokens"]
    assert remaining_tokens(url) == max(0, 60 - used - stream_used)
    while remaining_tokens(url) > 0:  # bounded: each chat spends > 0 of 60 tokens
        assert chat(url).status_code == 200
    refused = chat(url)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "tokens"
    assert "tokens per minute" in refused.json()["error"]["message"]


def test_a_stream_the_client_dropped_is_charged_what_was_generated(
    start: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    # 3000 tokens 20 ms apart: only the client's departure ends this stream early.
    fake_ollama.configure(content_tokens=3000, token_delay=0.02)
    url = start(rpm=0, tpm=100_000)
    body = {"model": "gpt-oss-20b", "messages": HI, "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/v1/chat/completions", headers=bearer(KEY), json=body) as r,
    ):
        for count, _ in enumerate(r.iter_lines(), start=1):
            if count >= 20:
                break
    charged = wait_until(lambda: 100_000 - remaining_tokens(url), "the dropped stream charged")
    assert charged < 3000, f"charged {charged}: the tokens produced before the disconnect"


def test_concurrency_cap_refuses_then_frees_the_slot(
    start: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    url = start(rpm=0, tpm=0, max_concurrent=1)
    slow: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: slow.append(chat(url)))
    try:
        with ollama_held(fake_ollama):  # the chat waits at Ollama, holding the key's slot
            worker.start()
            wait_until(lambda: len(fake_ollama.requests("/api/chat")) == 2, "the chat at Ollama")
            refused = get_models(url)
            assert refused.status_code == 429, "a second request while one is in flight is refused"
            assert refused.json()["error"]["type"] == "requests"
            assert "concurrent" in refused.json()["error"]["message"]
            assert refused.headers["retry-after"] == "1"
    finally:
        worker.join(timeout=PATIENCE)
    assert slow
    assert slow[0].status_code == 200
    assert get_models(url).status_code == 200, "the slot is free once the answer is complete"


def test_keys_without_limits_get_no_rate_headers(start: Callable[..., str]) -> None:
    url = start(rpm=0, tpm=0, max_concurrent=0)
    response = get_models(url)
    assert response.status_code == 200
    assert not any(h.startswith("x-ratelimit") for h in response.headers)
