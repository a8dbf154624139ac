"""In-flight slots in Redis are leases their worker renews (README "Rate limits").

Found by the e2e fault "a gunicorn worker SIGKILLed during streams": the killed worker's slots
stayed in Redis for the whole slot TTL (GATEWAY_TOTAL_TIMEOUT + 60 s, 16 minutes by default), so
a key with a concurrency cap got 429 "too many concurrent requests" with nothing in flight. Now a
live worker renews the slots of its running requests, and a dead worker's slots expire within a
lease however long requests may last.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from gateway.access.ratelimit.redis_store import RedisStore
from gateway.access.ratelimit.store import CONCURRENCY, FailurePolicy, Quota
from tests.support.waiting import PATIENCE
from tests.unit.gateway.access.ratelimit_support import RedisServer, running_redis

FAILURES = FailurePolicy(limit=0, window=60)
# Redis's own clock times the leases: long enough that the renewals (a quarter of a lease apart)
# keep up on a stalled machine, short enough for a test.
LEASE = 4.0


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for this module (tests use distinct key ids)."""
    with running_redis() as server:
        yield server


def one_at_a_time() -> tuple[str, Quota]:
    """A fresh key id with a concurrency cap of 1 and no other limit."""
    return "key_" + uuid.uuid4().hex[:12], Quota(rpm=0, tpm=0, max_concurrent=1)


async def test_a_running_request_keeps_its_slot_beyond_the_lease(redis_server: RedisServer) -> None:
    worker = RedisStore(redis_server.url, FAILURES, slot_ttl=LEASE, timeout=PATIENCE)
    other = RedisStore(redis_server.url, FAILURES, slot_ttl=LEASE, timeout=PATIENCE)
    key, quota = one_at_a_time()
    try:
        admitted = await worker.admit(key, quota, None)
        assert admitted.ticket is not None
        await asyncio.sleep(LEASE * 1.5)  # the request is still running: renewed, not expired
        assert (await other.admit(key, quota, None)).refused == CONCURRENCY

        await worker.settle(admitted.ticket, 0)
        assert (await other.admit(key, quota, None)).refused is None
    finally:
        await worker.aclose()
        await other.aclose()


async def test_the_slots_of_a_dead_worker_free_up_within_a_lease(
    redis_server: RedisServer,
) -> None:
    dead = RedisStore(redis_server.url, FAILURES, slot_ttl=LEASE, timeout=PATIENCE)
    alive = RedisStore(redis_server.url, FAILURES, slot_ttl=LEASE, timeout=PATIENCE)
    key, quota = one_at_a_time()
    try:
        assert (await dead.admit(key, quota, None)).refused is None
        await dead.aclose()  # killed: no settlement, no more renewals
        died = time.monotonic()
        assert (await alive.admit(key, quota, None)).refused == CONCURRENCY
        while (await alive.admit(key, quota, None)).refused is not None:
            assert time.monotonic() - died < LEASE + PATIENCE, "the dead worker's slot stays"
            await asyncio.sleep(0.1)
    finally:
        await alive.aclose()
