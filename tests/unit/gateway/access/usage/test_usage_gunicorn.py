"""The ledger across workers: real gunicorn (4 workers) + real redis-server with AOF.

Exact under concurrency (the ledger equals the sum of the answers' usage), budgets crossed under
concurrency stay within the documented bound (one answer per request in flight), and a Redis
restart keeps every count (AOF, as compose runs it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from fake_ollama.testing import FakeOllamaProcess
from gateway.access.keys import KeyRecord, read_key_file
from gateway.access.usage.ledger import Usage, by_model, day_hash, total
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.waiting import wait_until
from tests.unit.gateway.access.ratelimit_support import RedisServer, key_record, write_keys
from tests.unit.gateway.access.usage.usage_support import chat, me, secret

WORKERS = 4
CLIENTS = 8
REQUESTS = 48
RELOAD_SECONDS = 1.0


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server with AOF persistence, as in compose."""
    server = RedisServer(append_only=True)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's key file (tests add their own keys)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    write_keys(path, key_record(secret("exact"), "exact", rpm=0, tpm=0, max_concurrent=0))
    return path


@pytest.fixture(scope="module")
def gunicorn(
    fake_ollama_process: FakeOllamaProcess, redis_server: RedisServer, keys_file: Path
) -> Iterator[GunicornGateway]:
    """`gateway serve --workers 4` on the module's Redis."""
    settings = {
        "GATEWAY_OLLAMA_URL": fake_ollama_process.url,
        "GATEWAY_KEYS_FILE": str(keys_file),
        "GATEWAY_RATELIMIT_STORAGE": redis_server.url,
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
        # A busy machine must not look like an outage (10 s is the most allowed).
        "GATEWAY_RATELIMIT_TIMEOUT": "10",
    }
    with running_gunicorn(settings, workers=WORKERS) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_fake(fake_ollama: FakeOllamaProcess) -> None:
    """Every test starts with the fake Ollama's default behaviour (no leftover knobs)."""


def add_key(path: Path, record: KeyRecord) -> None:
    """Append a key to the file and give every worker the reload interval to see it."""
    write_keys(path, *read_key_file(path).keys, record)
    time.sleep(RELOAD_SECONDS + 0.2)


def ledger_today(redis_server: RedisServer, name: str) -> Usage:
    """The key's usage today, read straight from Redis."""
    raw = redis.Redis.from_url(redis_server.url).hgetall(
        day_hash(f"key_{name}", datetime.now(UTC).date())
    )
    return total(by_model({k.decode(): int(v) for k, v in raw.items()}).values())


def ledger_once(redis_server: RedisServer, name: str, requests: int) -> Usage:
    """The key's usage today once ``requests`` requests are charged (waits for the charges)."""
    found: list[Usage] = []

    def charged() -> bool:
        found[:] = [ledger_today(redis_server, name)]
        return found[0].requests == requests

    wait_until(charged, f"{requests} requests of {name} charged", step=0.05)
    return found[0]


def answer_tokens(reply: httpx.Response) -> int:
    """Total tokens of a whole or streamed (include_usage) chat answer."""
    if reply.headers["content-type"].startswith("text/event-stream"):
        events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: {")]
        return int(orjson.loads(events[-1])["usage"]["total_tokens"])
    return int(reply.json()["usage"]["total_tokens"])


def outcome(reply: httpx.Response) -> str:
    """``served``, or the error code (``insufficient_quota``: a budget; ``rate_limit_exceeded``:
    the concurrency cap)."""
    return "served" if reply.status_code == 200 else str(reply.json()["error"]["code"])


def burst(url: str, name: str, count: int) -> list[httpx.Response]:
    """``count`` chats (every other one streamed) from CLIENTS concurrent clients."""

    def one(index: int) -> httpx.Response:
        if index % 2:
            return chat(url, name, stream=True, stream_options={"include_usage": True})
        return chat(url, name)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_requests_over_four_workers_are_charged_exactly(
    gunicorn: GunicornGateway, redis_server: RedisServer
) -> None:
    replies = burst(gunicorn.url, "exact", REQUESTS)
    assert Counter(r.status_code for r in replies) == {200: REQUESTS}, gunicorn.log()[-3000:]
    expected = sum(answer_tokens(r) for r in replies)
    charged = ledger_once(redis_server, "exact", REQUESTS)
    assert charged.total == expected
    streams = REQUESTS // 2  # 8 reasoning chunks each; whole answers get an estimate
    assert 8 * streams < charged.reasoning < charged.completion
    assert charged.errors == 0
    statement = me(gunicorn.url, "exact").json()
    assert statement["usage"]["day"]["total_tokens"] == expected, "any worker reads the same"


def test_a_budget_crossed_under_concurrency_stays_within_the_bound(
    gunicorn: GunicornGateway, redis_server: RedisServer, keys_file: Path
) -> None:
    cap, budget = 4, 10
    add_key(
        keys_file,
        key_record(
            secret("tight"), "tight", rpm=0, tpm=0, max_concurrent=cap, daily_requests=budget
        ),
    )
    replies = burst(gunicorn.url, "tight", 40)
    served = [r for r in replies if r.status_code == 200]
    outcomes = Counter(outcome(r) for r in replies)
    assert set(outcomes) <= {"served", "insufficient_quota", "rate_limit_exceeded"}, outcomes
    assert outcomes["insufficient_quota"], "the budget was crossed"
    assert budget <= len(served) <= budget + cap, "overshoot at most one per request in flight"
    charged = ledger_once(redis_server, "tight", len(served))
    assert charged.total == sum(answer_tokens(r) for r in served)


def test_a_token_budget_crossed_under_concurrency_stays_within_the_bound(
    gunicorn: GunicornGateway, redis_server: RedisServer, keys_file: Path
) -> None:
    cap, budget = 4, 100
    limits = {"rpm": 0, "tpm": 0, "max_concurrent": cap, "daily_tokens": budget}
    add_key(keys_file, key_record(secret("tokens"), "tokens", **limits))
    replies = burst(gunicorn.url, "tokens", 40)
    served = [r for r in replies if r.status_code == 200]
    assert Counter(outcome(r) for r in replies)["insufficient_quota"], "the budget was crossed"
    largest = max(answer_tokens(r) for r in served)
    charged = ledger_once(redis_server, "tokens", len(served))
    assert charged.total == sum(answer_tokens(r) for r in served)
    assert budget <= charged.total < budget + cap * largest, (
        "at most one answer per request in flight"
    )


def test_a_redis_restart_keeps_the_ledger(
    gunicorn: GunicornGateway, redis_server: RedisServer, keys_file: Path
) -> None:
    add_key(keys_file, key_record(secret("durable"), "durable", rpm=0, tpm=0, max_concurrent=0))
    served = burst(gunicorn.url, "durable", 8)
    expected = sum(answer_tokens(r) for r in served)
    before = ledger_once(redis_server, "durable", 8)
    assert before.total == expected
    redis_server.stop()  # SIGTERM, as `docker compose restart redis` sends
    redis_server.start()
    assert ledger_today(redis_server, "durable") == before, "every count survived the restart"

    def after_restart() -> bool:  # the gateway reconnects by itself; charges resume
        return chat(gunicorn.url, "durable").status_code == 200

    wait_until(after_restart, "a request served after the restart")
    wait_until(lambda: ledger_today(redis_server, "durable").requests >= 9, "charged on top")
