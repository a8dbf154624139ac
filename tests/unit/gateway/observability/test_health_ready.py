"""/health/live and /health/ready against the fake Ollama (and a real redis-server)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest
import redis

from fake_ollama.testing import FakeOllamaProcess
from gateway.observability.health import ReadinessChecker
from tests.support.clock import ManualClock
from tests.support.servers import free_port, running_gateway
from tests.support.waiting import PATIENCE


# Tests expecting "ok" give the checks PATIENCE: a busy machine must not look like an outage.
def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health/ready", timeout=PATIENCE * 2)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (Debian's ``redis-server``)."""
    binary = shutil.which("redis-server")
    assert binary, (
        "redis-server is needed (apt-get install redis-server; see .ci/install-packages.sh)"
    )
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_live_needs_no_dependency() -> None:
    with running_gateway(ollama_url=f"http://127.0.0.1:{free_port()}") as url:
        response = httpx.get(f"{url}/health/live", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_ollama_answers_and_the_model_is_present(
    gateway_factory: Callable[..., str],
) -> None:
    # A gateway of its own: the session gateway may hold a cached verdict from another test.
    response = _ready(gateway_factory(ready_cache_seconds=0, health_timeout=PATIENCE))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["components"]) == {"ollama", "model"}  # memory:// rate limits: no Redis
    for component in body["components"].values():
        assert component["status"] == "ok"
    assert body["components"]["ollama"]["latency_ms"] >= 0
    assert response.headers["cache-control"] == "no-store"


def test_a_missing_model_is_reported_as_still_downloading(
    gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(models=[])
    url = gateway_factory(ready_cache_seconds=0, health_timeout=PATIENCE)
    response = _ready(url)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    model = body["components"]["model"]
    assert model["status"] == "downloading"
    assert "gpt-oss:20b is still downloading" in model["detail"]
    assert body["components"]["ollama"]["status"] == "ok"
    fake_ollama.configure(models=["gpt-oss:20b"])
    assert _ready(url).status_code == 200


def test_unreachable_ollama_is_not_ready_and_says_so() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_gateway(ollama_url=dead, log_level="WARNING") as url:
        response = _ready(url)
    assert response.status_code == 503
    ollama = response.json()["components"]["ollama"]
    assert ollama["status"] == "down"
    assert "docker compose logs ollama" in ollama["detail"]
    assert dead not in response.text


def test_results_are_cached_so_probes_cannot_load_ollama(
    gateway_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache's age is read from a clock the test drives: how long eight parallel calls take
    # on a busy machine cannot expire it. A fake Ollama of its own: the session gateway's
    # background probe would add its own /api/tags calls to the count at random moments.
    clock = ManualClock()
    monkeypatch.setattr("gateway.app.ReadinessChecker", partial(ReadinessChecker, clock=clock))
    with FakeOllamaProcess() as fake:
        url = gateway_factory(
            ollama_url=fake.url,
            ready_cache_seconds=1.0,
            probe_interval_seconds=3600,
            health_timeout=PATIENCE,
        )
        # One check at a time: this answer waits for the start-up probe's check if it still runs.
        assert _ready(url).status_code == 200
        assert len(fake.requests(path="/api/tags")) == 1
        clock.advance(1.1)  # the start-up probe's result has expired
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: _ready(url).status_code, range(8)))
        assert statuses == [200] * 8
        clock.advance(0.9)  # still within the second
        assert _ready(url).status_code == 200
        assert len(fake.requests(path="/api/tags")) == 2
        clock.advance(0.2)
        assert _ready(url).status_code == 200
        assert len(fake.requests(path="/api/tags")) == 3


def test_redis_is_checked_when_it_stores_the_rate_limits(
    gateway_factory: Callable[..., str], redis_url: str
) -> None:
    response = _ready(gateway_factory(ratelimit_storage=redis_url, health_timeout=PATIENCE))
    assert response.status_code == 200
    assert response.json()["components"]["redis"]["status"] == "ok"


def test_unreachable_redis_makes_the_gateway_not_ready_without_leaking_its_url(
    gateway_factory: Callable[..., str],
) -> None:
    storage = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"
    response = _ready(gateway_factory(ratelimit_storage=storage, health_timeout=0.5))
    assert response.status_code == 503
    assert response.json()["components"]["redis"]["status"] == "down"
    assert "hunter2" not in response.text
    assert "127.0.0.1" not in response.text
