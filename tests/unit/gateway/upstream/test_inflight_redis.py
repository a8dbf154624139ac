"""In-flight counts shared in Redis: two workers (two routers) pick by the same numbers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gateway.settings import Settings
from gateway.upstream.backends import Backend
from gateway.upstream.inflight_redis import CountsUnavailable, SharedInFlight
from gateway.upstream.router import Claim, Router
from tests.support.servers import free_port
from tests.support.waiting import PATIENCE
from tests.unit.gateway.access.ratelimit_support import RedisServer, running_redis

URLS = ["http://gpu0:11434", "http://gpu1:11434", "http://gpu2:11434"]
MODEL = "gpt-oss:20b"


def unused(request: httpx.Request) -> httpx.Response:
    """No backend is called: these tests only pick."""
    raise AssertionError(f"unexpected call {request.url}")


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """A redis-server for the module."""
    with running_redis() as server:
        yield server


def worker(storage: str, seed: int) -> Router:
    """One gateway worker's router over :data:`URLS`, counting in ``storage``."""
    settings = Settings(ollama_urls=URLS, ratelimit_storage=storage)
    backends = [Backend(u, settings, transport=httpx.MockTransport(unused)) for u in URLS]
    return Router(settings, backends, rng=random.Random(seed), shared=SharedInFlight(settings))


@pytest.fixture
async def workers(redis: RedisServer) -> AsyncIterator[list[Router]]:
    """Two workers sharing the counts (fresh keys: the previous test's leases were released)."""
    routers = [worker(redis.url, seed) for seed in (1, 2)]
    for router in routers:
        for backend in router.backends:
            backend.loaded = frozenset({MODEL})  # all warm: only the counts decide
            backend.loaded_at = backend.clock()
    yield routers
    for router in routers:
        await router.aclose()


async def test_workers_see_each_others_generations(workers: list[Router]) -> None:
    first, second = workers
    claims: list[Claim] = []
    for n in range(6):  # alternate workers: each pick must see the other's counts
        claim = await workers[n % 2].claim(MODEL)
        assert claim is not None
        claims.append(claim)
    per_backend = [sum(c.backend.url == url for c in claims) for url in URLS]
    assert per_backend == [2, 2, 2]
    for n, claim in enumerate(claims):
        workers[n % 2].release(claim)
    for router in (first, second):
        await router.settle()
    # The counts are back to 0: three more picks land on three different backends.
    again = [await first.claim(MODEL) for _ in range(3)]
    assert sorted(c.backend.url for c in again if c is not None) == URLS
    for claim in again:
        assert claim is not None
        first.release(claim)


async def test_a_released_count_leaves_redis(workers: list[Router]) -> None:
    router = workers[0]
    shared = router.shared
    assert shared is not None
    claim = await router.claim(MODEL)
    assert claim is not None
    assert claim.lease is not None
    key = shared.key(claim.backend.url)
    assert await shared._client.zscore(key, claim.lease) is not None
    router.release(claim)  # in the background: it may run in a cancelled task
    deadline = time.monotonic() + PATIENCE
    while await shared._client.zscore(key, claim.lease) is not None:
        assert time.monotonic() < deadline, "the lease is still counted"
        await asyncio.sleep(0.01)


async def test_without_redis_a_worker_picks_by_its_own_counts() -> None:
    router = worker(f"redis://127.0.0.1:{free_port()}/0", seed=3)
    try:
        picked = [await router.claim(MODEL) for _ in range(3)]
        assert sorted(c.backend.url for c in picked if c is not None) == URLS
        assert all(c is not None and c.lease is None for c in picked)
    finally:
        await router.aclose()


async def test_after_a_failure_redis_is_left_alone_for_a_second() -> None:
    now = [100.0]
    settings = Settings(ollama_urls=URLS, ratelimit_storage=f"redis://127.0.0.1:{free_port()}/0")
    shared = SharedInFlight(settings, clock=lambda: now[0])
    try:
        with pytest.raises(CountsUnavailable):
            await shared.claim(URLS, [0, 0, 0])
        now[0] += 0.9
        assert await shared.claim(URLS, [0, 0, 0]) is None  # at once: Redis is not asked
        now[0] += 0.2
        with pytest.raises(CountsUnavailable):
            await shared.claim(URLS, [0, 0, 0])
    finally:
        await shared.aclose()
