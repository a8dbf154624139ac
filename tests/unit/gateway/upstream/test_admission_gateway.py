"""Admission control through real gateways: never more generations at Ollama than it runs at
once (four gunicorn workers sharing Redis), 503 ``server_overloaded`` when the queue is full or
the wait too long, departures while queued, and the runaway guards.

The fake Ollama counts the generations it has in flight (``/_fake/stats``): that count, not a
clock, is what the tests check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.gunicorn import running_gunicorn
from tests.support.servers import TEST_ACCESS, TEST_API_KEY
from tests.support.waiting import leaving_request, wait_until
from tests.unit.gateway.access.ratelimit_support import RedisServer, running_redis

CHAT = {"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "Say hello"}]}
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def post_chat(url: str, **fields: object) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions", json={**CHAT, **fields}, headers=AUTH, timeout=120
    )


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def test_four_workers_never_send_ollama_more_than_its_parallelism(
    fake_ollama: FakeOllamaProcess, redis_server: RedisServer
) -> None:
    fake_ollama.configure(num_parallel=2, token_delay=0.02, content_tokens=20)
    env = {
        "GATEWAY_OLLAMA_URL": fake_ollama.url,
        **{f"GATEWAY_{name.upper()}": str(value) for name, value in TEST_ACCESS.items()},
        "GATEWAY_RATELIMIT_STORAGE": redis_server.url,
        "GATEWAY_OLLAMA_PARALLEL": "2",
        "GATEWAY_QUEUE_TIMEOUT": "300",
    }
    with running_gunicorn(env, workers=4) as gateway, ThreadPoolExecutor(16) as pool:
        streams = [i % 2 == 0 for i in range(16)]
        replies = list(pool.map(lambda s: post_chat(gateway.url, stream=s), streams))
        ready = httpx.get(f"{gateway.url}/health/ready", timeout=30).json()
    assert [r.status_code for r in replies] == [200] * 16
    assert all("x-queue-seconds" in r.headers for r in replies)
    stats = fake_ollama.stats()
    assert stats["generations_total"] == 16
    assert stats["peak_generations_in_flight"] <= 2
    assert ready["queue"] == {"capacity": 2, "in_flight": 0, "queued": 0, "queue_max": 100}


def test_a_request_that_waits_too_long_gets_503_server_overloaded_with_retry_after(
    gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(ollama_parallel=1, queue_timeout=1.0)
    fake_ollama.configure(first_token_delay=600)  # the admitted generation never ends by itself
    with leaving_request(f"{url}/v1/chat/completions", CHAT, AUTH):
        wait_until(lambda: fake_ollama.stats()["generations_in_flight"] == 1, "the first at Ollama")
        response = post_chat(url)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "server_overloaded"
    assert "GATEWAY_QUEUE_TIMEOUT" in error["message"]
    assert "Ollama is not reachable" not in error["message"]
    # The queued request never reached Ollama; the slot of the departed client comes back.
    assert fake_ollama.stats()["generations_total"] == 1
    fake_ollama.configure(first_token_delay=0)
    wait_until(lambda: post_chat(url).status_code == 200, "a generation after the departure")


def test_a_full_queue_answers_at_once_and_a_departed_waiter_leaves_the_queue(
    gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(ollama_parallel=1, queue_max=1, queue_timeout=300)
    fake_ollama.configure(first_token_delay=600)
    with leaving_request(f"{url}/v1/chat/completions", CHAT, AUTH):
        wait_until(lambda: fake_ollama.stats()["generations_in_flight"] == 1, "the first at Ollama")
        with leaving_request(f"{url}/v1/chat/completions", CHAT, AUTH):
            queued = lambda: httpx.get(f"{url}/health/ready", timeout=30).json()["queue"]["queued"]  # noqa: E731
            wait_until(lambda: queued() == 1, "the second request queued")
            full = post_chat(url)
            assert full.status_code == 503
            assert full.json()["error"]["code"] == "server_overloaded"
            assert "queue is full" in full.json()["error"]["message"]
        wait_until(lambda: queued() == 0, "the departed waiter out of the queue")
    assert fake_ollama.stats()["generations_total"] == 1


def test_output_tokens_are_capped_when_the_client_asks_for_more_or_nothing(
    gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(max_output_tokens=5)
    for asked in (None, 1000):
        reply = post_chat(url, **({} if asked is None else {"max_tokens": asked})).json()
        assert fake_ollama.requests("/api/chat")[-1]["body"]["options"]["num_predict"] == 5
        assert reply["choices"][0]["finish_reason"] == "length"
        assert reply["usage"]["completion_tokens"] == 5
    post_chat(url, max_tokens=3)
    assert fake_ollama.requests("/api/chat")[-1]["body"]["options"]["num_predict"] == 3


@pytest.mark.parametrize(
    ("stream", "stream_whole_answers"), [(True, False), (False, True)], ids=["stream", "whole"]
)
def test_a_generation_past_the_time_cap_ends_with_length_and_stops_ollama(
    gateway_factory: Callable[..., str],
    fake_ollama: FakeOllamaProcess,
    stream: bool,
    stream_whole_answers: bool,
) -> None:
    url = gateway_factory(max_generation_seconds=0.5, stream_whole_answers=stream_whole_answers)
    fake_ollama.configure(token_delay=0.1, content_tokens=3000)  # far longer than the cap
    response = post_chat(url, stream=stream)
    assert response.status_code == 200
    if stream:
        events = [line for line in response.text.splitlines() if line.startswith("data: {")]
        assert '"finish_reason":"length"' in events[-1].replace(" ", "")
    else:
        reply = response.json()
        assert reply["choices"][0]["finish_reason"] == "length"
        assert reply["usage"]["completion_tokens"] > 0
    wait_until(lambda: fake_ollama.cancelled(), "Ollama told to stop the generation")
    assert fake_ollama.cancelled()[-1]["tokens_emitted"] < 3000


def test_a_whole_answer_past_the_time_cap_is_a_504_that_says_to_stream_and_stops_ollama(
    gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    # Asked in one piece, Ollama has nothing to show before the end: the answer cannot be kept.
    url = gateway_factory(max_generation_seconds=0.5, first_byte_timeout=1)
    fake_ollama.configure(token_delay=0.1, content_tokens=3000)  # far longer than the deadline
    response = post_chat(url)
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "generation_time_limit"
    assert "GATEWAY_MAX_GENERATION_SECONDS" in error["message"]
    assert '"stream": true' in error["message"]
    assert fake_ollama.requests("/api/chat")[-1]["body"]["stream"] is False
    wait_until(lambda: fake_ollama.cancelled(), "Ollama told to stop the generation")
    assert fake_ollama.cancelled()[-1]["tokens_emitted"] < 3000
