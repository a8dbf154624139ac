"""Real gunicorn (``gateway serve``, 2 workers) under continuous keep-alive load: workers recycled
every ~100 requests, a ``SIGHUP`` reload, a ``SIGTERM`` stop. No request fails, and the fake Ollama
ran each answered request's generation exactly once. ``FULL=1`` adds a 10-minute soak with
recycling (README "CI").

The load (``tests/support/load.py``) is 8 clients with one keep-alive connection each, sending
chats and streams back to back and retrying nothing. Each test waits for what it is about (so
many recycles, the new workers) with a generous deadline; none assumes a fast machine.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.load import Load, LoadResult, running_load
from tests.support.servers import TEST_API_KEY

WORKERS = 2
MAX_REQUESTS = 100
# How long a test may wait for what it needs (busy 2-core machine: generous).
DEADLINE = 240.0
HISTORY = 100_000
SOAK_SECONDS = 600.0


def gunicorn_env(fake_url: str, **extra: str) -> dict[str, str]:
    """A gateway on the fake, without limits (the load is one key), plus ``extra``."""
    return {
        "GATEWAY_OLLAMA_URL": fake_url,
        "GATEWAY_API_KEYS": TEST_API_KEY,
        "GATEWAY_DEFAULT_RPM": "0",
        "GATEWAY_DEFAULT_TPM": "0",
        "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
        "GATEWAY_AUTH_FAILURE_LIMIT": "0",
        "GUNICORN_MAX_REQUESTS": "0",
        **extra,
    }


@pytest.fixture
def fake(fake_ollama: FakeOllamaProcess) -> FakeOllamaProcess:
    """The reset fake Ollama, remembering every request of a test."""
    fake_ollama.configure(history=HISTORY, token_delay=0.002)
    return fake_ollama


def assert_each_generation_ran_once(fake: FakeOllamaProcess, result: LoadResult) -> None:
    """Every answered request reached Ollama exactly once, and no request more than once."""
    seen = Counter(record.get("request_id") for record in fake.requests(path="/api/chat"))
    twice = {
        request_id: seen[request_id] for request_id in result.request_ids if seen[request_id] > 1
    }
    assert not twice, f"generations ran more than once: {twice}"
    missing = [request_id for request_id in result.answered_chat_ids if request_id not in seen]
    assert not missing, f"answered without reaching Ollama: {missing[:5]}"


def wait_for(condition: str, check: object, load: Load, gateway: GunicornGateway) -> None:
    """Poll ``check()`` every 0.2 s until true; fail after DEADLINE with the load and the log."""
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not within {DEADLINE:g} s: {condition}; {load.result.summary()}\n{gateway.log()}"
            )
        time.sleep(0.2)


@pytest.fixture
def recycling_gateway(fake: FakeOllamaProcess) -> Iterator[GunicornGateway]:
    """2 workers, each recycled after 100-120 requests."""
    env = gunicorn_env(
        fake.url, GUNICORN_MAX_REQUESTS=str(MAX_REQUESTS), GUNICORN_MAX_REQUESTS_JITTER="20"
    )
    with running_gunicorn(env, workers=WORKERS) as gateway:
        yield gateway


def test_recycling_workers_under_load_fails_no_request(
    recycling_gateway: GunicornGateway, fake: FakeOllamaProcess
) -> None:
    seen: set[int] = set(recycling_gateway.worker_pids())
    first = set(seen)

    def recycled_four_times() -> bool:
        seen.update(recycling_gateway.worker_pids())
        return len(seen) >= WORKERS + 4 and not first & recycling_gateway.worker_pids()

    with running_load(recycling_gateway.url, TEST_API_KEY, clients=8) as load:
        wait_for("4 worker recycles", recycled_four_times, load, recycling_gateway)
        load.wait_for_answers(20, timeout=DEADLINE)  # the replacements serve
    result = load.result

    assert result.failed == 0, result.summary()
    assert result.streams_answered > 0
    assert_each_generation_ran_once(fake, result)


def test_sighup_reload_under_load_fails_no_request(fake: FakeOllamaProcess) -> None:
    with (
        running_gunicorn(gunicorn_env(fake.url), workers=WORKERS) as gateway,
        running_load(gateway.url, TEST_API_KEY, clients=8) as load,
    ):
        old = gateway.worker_pids()
        load.wait_for_answers(50, timeout=DEADLINE)

        gateway.process.send_signal(signal.SIGHUP)
        wait_for(
            "the old workers to leave and 2 new ones to serve",
            lambda: not old & (pids := gateway.worker_pids()) and len(pids) == WORKERS,
            load,
            gateway,
        )
        load.wait_for_answers(50, timeout=DEADLINE)
    result = load.result

    assert result.failed == 0, result.summary()
    assert_each_generation_ran_once(fake, result)


def test_sigterm_lets_a_stream_in_flight_finish(fake: FakeOllamaProcess) -> None:
    fake.configure(token_delay=0.05)  # 20 tokens: a second or so of streaming
    body = {
        "model": "gpt-oss:20b",
        "messages": [{"role": "user", "content": "long"}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with running_gunicorn(gunicorn_env(fake.url), workers=WORKERS) as gateway:
        with httpx.stream(
            "POST",
            f"{gateway.url}/v1/chat/completions",
            json=body,
            headers=headers,
            timeout=DEADLINE,
        ) as response:
            chunks = response.iter_text()
            received = next(chunks)
            gateway.process.send_signal(signal.SIGTERM)  # the whole server stops
            received += "".join(chunks)
        exit_status = gateway.process.wait(timeout=DEADLINE)

    assert response.status_code == 200
    assert received.rstrip().endswith("data: [DONE]")
    assert received.count('"content":') >= 10
    assert exit_status == 0


@pytest.mark.soak  # deselected unless FULL=1 (make unit FULL=1)
def test_ten_minutes_of_recycling_fail_no_request(
    recycling_gateway: GunicornGateway, fake: FakeOllamaProcess
) -> None:
    seen: set[int] = set()
    with running_load(recycling_gateway.url, TEST_API_KEY, clients=8) as load:
        deadline = time.monotonic() + SOAK_SECONDS
        while time.monotonic() < deadline:
            seen.update(recycling_gateway.worker_pids())
            time.sleep(1.0)
    result = load.result

    assert result.failed == 0, result.summary()
    assert len(seen) > WORKERS + 4, "hardly any recycling happened"
    assert_each_generation_ran_once(fake, result)
