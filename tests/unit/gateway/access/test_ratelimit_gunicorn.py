"""Limits that hold across workers: real gunicorn (4 workers) + real redis-server.

Every request goes out on its own connection so that the kernel hands it to any worker; which
workers served is read off their Prometheus multiprocess counter files.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from fake_ollama.testing import FakeOllamaProcess
from gateway.access.guard import STORE_WARNING_INTERVAL
from gateway.access.keys import KeyRecord, read_key_file
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.waiting import wait_until
from tests.unit.gateway.access.ratelimit_support import (
    RedisServer,
    bearer,
    fresh_get,
    key_record,
    running_redis,
    write_keys,
)

WORKERS = 4
CLIENTS = 8
RELOAD_SECONDS = 1.0


def secret(name: str) -> str:
    """The test secret of the key called ``name``."""
    return f"sk-{name}-0123456789abcdef0123456789abcdef"


def add_keys(path: Path, *records: KeyRecord) -> None:
    """Append records to the key file (as `gateway keys create` would) and give every worker
    the reload interval (1 s) to see them."""
    write_keys(path, *read_key_file(path).keys, *records)
    time.sleep(RELOAD_SECONDS + 0.2)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """The redis-server the gateways of this module share."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's key file (tests add their own keys)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    write_keys(path, key_record(secret("exact"), "exact", rpm=25, tpm=0, max_concurrent=0))
    return path


@dataclass
class Deployment:
    """A running `gateway serve` and the directory of its workers' counter files."""

    server: GunicornGateway
    metrics_dir: Path

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url

    def served_by_worker(self) -> dict[int, float]:
        """HTTP requests counted so far in each worker's counter file."""
        served: dict[int, float] = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            pid = int(path.stem.split("_")[1])
            for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
                if metric.name == "gateway_http_requests":
                    served[pid] = sum(s.value for s in metric.samples if s.name.endswith("_total"))
        return served


@pytest.fixture(scope="module")
def start_gunicorn(
    fake_ollama_process: FakeOllamaProcess,
    redis_server: RedisServer,
    keys_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Deployment]]:
    """Start `gateway serve --workers 4` on Redis with extra settings; all stop at module end."""
    with ExitStack() as stack:

        def start(**env: str) -> Deployment:
            metrics_dir = tmp_path_factory.mktemp("multiproc")
            settings = {
                "GATEWAY_OLLAMA_URL": fake_ollama_process.url,
                "GATEWAY_KEYS_FILE": str(keys_file),
                "GATEWAY_RATELIMIT_STORAGE": redis_server.url,
                "GUNICORN_GRACEFUL_TIMEOUT": "5",
                "GATEWAY_AUTH_FAILURE_LIMIT": "1000",  # these tests send unknown keys on purpose
                # A busy machine must not look like an outage (10 s is the most allowed).
                "GATEWAY_RATELIMIT_TIMEOUT": "10",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                **env,
            }
            server = stack.enter_context(running_gunicorn(settings, workers=WORKERS))
            return Deployment(server, metrics_dir)

        yield start


@pytest.fixture(autouse=True)
def _fresh_fake(fake_ollama: FakeOllamaProcess) -> None:
    """Every test starts with the fake Ollama's default behaviour (no leftover knobs)."""


@pytest.fixture(scope="module")
def gunicorn(start_gunicorn: Callable[..., Deployment]) -> Deployment:
    """The module's fail-open gateway."""
    return start_gunicorn()


def burst(url: str, key: str, count: int, path: str = "/v1/models") -> list[httpx.Response]:
    """``count`` requests from CLIENTS concurrent clients, each on a fresh connection."""
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(lambda _: fresh_get(url, path, key), range(count)))


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    """How many responses had each status."""
    return Counter(r.status_code for r in responses)


def test_a_limit_of_n_admits_exactly_n_across_four_workers(gunicorn: Deployment) -> None:
    before = gunicorn.served_by_worker()
    responses = burst(gunicorn.url, secret("exact"), 75)
    assert statuses(responses) == {200: 25, 429: 50}, gunicorn.server.log()[-3000:]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["type"] == "requests"
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in responses)
    assert remaining == [0] * 50 + list(range(25)), "one count shared by all workers"
    after = gunicorn.served_by_worker()
    busy = [pid for pid, n in after.items() if n > before.get(pid, 0)]
    assert len(busy) >= 2, f"the burst should reach several workers: {after}"


def test_tokens_charged_in_one_worker_count_in_all(gunicorn: Deployment, keys_file: Path) -> None:
    add_keys(keys_file, key_record(secret("tok"), "tok", rpm=0, tpm=100_000, max_concurrent=0))
    body = {"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}]}
    used = 0
    for _ in range(6):
        with httpx.Client(timeout=30) as client:
            reply = client.post(
                f"{gunicorn.url}/v1/chat/completions", headers=bearer(secret("tok")), json=body
            )
        assert reply.status_code == 200
        used += reply.json()["usage"]["total_tokens"]
    seen = {
        fresh_get(gunicorn.url, "/v1/models", secret("tok")).headers["x-ratelimit-remaining-tokens"]
        for _ in range(12)
    }
    assert seen == {str(100_000 - used)}


def test_one_request_at_a_time_never_trips_a_concurrency_cap_of_one(
    gunicorn: Deployment, keys_file: Path
) -> None:
    add_keys(keys_file, key_record(secret("serial"), "serial", rpm=0, tpm=0, max_concurrent=1))
    answers = [fresh_get(gunicorn.url, "/v1/models", secret("serial")) for _ in range(30)]
    with httpx.Client(base_url=gunicorn.url, headers=bearer(secret("serial"))) as client:
        answers += [client.get("/v1/models") for _ in range(60)]
    assert statuses(answers) == {200: 90}, "a finished request's slot is free for the next one"


def test_key_file_edits_reach_every_worker_within_seconds(
    gunicorn: Deployment, keys_file: Path
) -> None:
    # add_keys waits out the reload interval: from then on every worker has the new file.
    late = secret("late")
    assert statuses(burst(gunicorn.url, late, 8)) == {401: 8}
    add_keys(keys_file, key_record(late, "late", rpm=0, tpm=0, max_concurrent=0))
    before = gunicorn.served_by_worker()
    answers: list[int] = []

    def every_worker_served() -> bool:  # batches of 8 until every worker has served one
        answers.extend(r.status_code for r in burst(gunicorn.url, late, 8))
        after = gunicorn.served_by_worker()
        return len(after) == WORKERS and all(after[p] > before.get(p, 0) for p in after)

    wait_until(every_worker_served, "every worker served the new key", step=0)
    assert set(answers) == {200}, "every worker accepts the new key"
    write_keys(keys_file, *[r for r in read_key_file(keys_file).keys if r.name != "late"])
    time.sleep(RELOAD_SECONDS + 0.2)
    assert statuses(burst(gunicorn.url, late, 16)) == {401: 16}, "and every worker drops it"


def test_redis_down_fails_open_then_limits_again_once_it_is_back(
    gunicorn: Deployment, redis_server: RedisServer, keys_file: Path
) -> None:
    add_keys(
        keys_file,
        key_record(secret("open"), "open", rpm=10, tpm=0, max_concurrent=0),
        key_record(secret("after"), "after", rpm=10, tpm=0, max_concurrent=0),
    )
    assert statuses(burst(gunicorn.url, secret("open"), 5)) == {200: 5}
    redis_server.stop()
    try:
        started = time.monotonic()
        during = burst(gunicorn.url, secret("open"), 30)
        took = time.monotonic() - started
        assert statuses(during) == {200: 30}, "fail open: no 429, never a 500"
        assert not any("x-ratelimit-remaining-requests" in r.headers for r in during)
        warnings = gunicorn.server.log().count("rate-limit store unavailable")
        # At most one warning per worker every STORE_WARNING_INTERVAL, however long the burst
        # took on this machine: not one per request.
        most = WORKERS * (1 + math.floor(took / STORE_WARNING_INTERVAL))
        assert 1 <= warnings <= most, "one warning per worker, not one per request"
    finally:
        redis_server.start()
    wait_until(
        lambda: (
            "x-ratelimit-remaining-requests"
            in fresh_get(gunicorn.url, "/v1/models", secret("open")).headers
        ),
        "a worker counting in Redis again",
    )
    time.sleep(1.2)  # every worker's one-second pause after a failure is over
    assert statuses(burst(gunicorn.url, secret("after"), 30)) == {200: 10, 429: 20}


def test_redis_down_fails_closed_with_503_when_configured(
    start_gunicorn: Callable[..., Deployment], redis_server: RedisServer, keys_file: Path
) -> None:
    add_keys(keys_file, key_record(secret("closed"), "closed", rpm=1000, tpm=0, max_concurrent=0))
    deployment = start_gunicorn(GATEWAY_RATELIMIT_FAIL_OPEN="false")
    key = secret("closed")
    assert statuses(burst(deployment.url, key, 4)) == {200: 4}
    redis_server.stop()
    try:
        during = burst(deployment.url, key, 12)
        assert statuses(during) == {503: 12}
        error = during[0].json()["error"]
        assert error["code"] == "rate_limit_store_unavailable"
        assert "GATEWAY_RATELIMIT_FAIL_OPEN" in error["message"]
        assert during[0].headers["retry-after"] == "1"
    finally:
        redis_server.start()
    wait_until(
        lambda: statuses(burst(deployment.url, key, 8)) == {200: 8},
        "every worker recovered by itself once Redis is back",
        step=0.2,
    )
