"""A Redis outage seen by one gateway: fail open (pass, warn once) or closed (503), then recover."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, ollama_held, wait_until
from tests.unit.gateway.access.ratelimit_support import RedisServer, bearer, key_record, write_keys

KEY = "sk-outage-0123456789abcdef0123456789abcd"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server this test may stop and start."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def start(
    gateway_factory: Callable[..., str], redis_server: RedisServer, tmp_path: Path
) -> Callable[..., str]:
    """Start a gateway counting in ``redis_server``; its key has rpm 100, tpm and a cap."""
    path = tmp_path / "keys.json"
    write_keys(path, key_record(KEY, "outage", rpm=100, tpm=100_000, max_concurrent=5))

    def starter(**settings: object) -> str:
        return gateway_factory(
            api_keys="",
            keys_file=path,
            ratelimit_storage=redis_server.url,
            auth_failure_limit=5,
            ratelimit_timeout=10.0,  # a busy machine must not look like an outage (the most)
            **settings,
        )

    return starter


def models(url: str, key: str = KEY) -> httpx.Response:
    """GET /v1/models."""
    return httpx.get(f"{url}/v1/models", headers=bearer(key), timeout=10)


def recovered(url: str) -> httpx.Response:
    """The first response counted by the store again (it carries the headers)."""

    def counted() -> httpx.Response | None:
        response = models(url)
        return response if "x-ratelimit-remaining-requests" in response.headers else None

    response: httpx.Response = wait_until(counted, "the store counting again")
    return response


def test_fail_open_passes_without_headers_and_recovers(
    start: Callable[..., str], redis_server: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    url = start()
    assert models(url).headers["x-ratelimit-remaining-requests"] == "99"
    redis_server.stop()
    during = [models(url) for _ in range(10)]
    assert {r.status_code for r in during} == {200}
    assert not any("x-ratelimit-limit-requests" in r.headers for r in during)
    wrong = httpx.get(f"{url}/v1/models", headers=bearer("sk-wrong"))
    assert wrong.status_code == 401, "failed auth cannot be counted: still a plain 401"
    assert capfd.readouterr().err.count("rate-limit store unavailable") == 1, "warned once"
    redis_server.start()
    back = recovered(url)
    assert back.status_code == 200
    assert back.headers["x-ratelimit-remaining-requests"] == "99", "a fresh Redis counts anew"


def test_fail_closed_answers_503_and_recovers(
    start: Callable[..., str], redis_server: RedisServer
) -> None:
    url = start(ratelimit_fail_open=False)
    assert models(url).status_code == 200
    redis_server.stop()
    refused = models(url)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "rate_limit_store_unavailable"
    redis_server.start()
    assert recovered(url).status_code == 200


def test_store_lost_during_a_request_does_not_break_its_answer(
    start: Callable[..., str], redis_server: RedisServer, fake_ollama: FakeOllamaProcess
) -> None:
    url = start()
    answers: list[httpx.Response] = []
    body = {"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}]}
    worker = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{url}/v1/chat/completions", headers=bearer(KEY), json=body, timeout=PATIENCE
            )
        )
    )
    with ollama_held(fake_ollama):  # the chat stays in flight at Ollama meanwhile
        worker.start()
        wait_until(lambda: len(fake_ollama.requests("/api/chat")) == 2, "the chat at Ollama")
        redis_server.stop()  # the answer's token charge will find no store
    worker.join(timeout=PATIENCE)
    assert answers
    assert answers[0].status_code == 200
    assert answers[0].json()["usage"]["total_tokens"] > 0
