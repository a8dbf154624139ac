"""The rate-limit stores, memory and a real redis-server, held to the same semantics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.access.ratelimit.memory_store import MemoryStore
from gateway.access.ratelimit.redis_store import RedisStore
from gateway.access.ratelimit.store import (
    AUTH_FAILURES,
    CONCURRENCY,
    REQUESTS,
    TOKENS,
    Admission,
    FailurePolicy,
    Quota,
    RateLimitStore,
    StoreUnavailable,
    Window,
    format_reset,
    needs_settling,
    openai_headers,
)
from tests.support.waiting import PATIENCE
from tests.unit.gateway.access.ratelimit_support import RedisServer, running_redis

# Windows and TTLs are measured by the store (Redis's own clock): a test's few calls must fit in
# them even on a stalled machine, so none is shorter than a few seconds.
FAILURES = FailurePolicy(limit=3, window=3)
STORE_TIMEOUT = PATIENCE  # one call to Redis; a busy machine must not look like an outage


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for this module (tests use distinct key ids)."""
    with running_redis() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[RateLimitStore]:
    """Each store kind, with a failed-auth limit of 3 per second."""
    made: RateLimitStore
    if request.param == "memory":
        made = MemoryStore(FAILURES, slot_ttl=60)
    else:
        made = RedisStore(redis_server.url, FAILURES, slot_ttl=60, timeout=STORE_TIMEOUT)
    try:
        yield made
    finally:
        await made.aclose()


def new_key() -> str:
    """A key id no other test uses."""
    return "key_" + uuid.uuid4().hex[:12]


def new_ip() -> str:
    """A client address no other test uses."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


async def test_requests_window_admits_exactly_rpm(store: RateLimitStore) -> None:
    key, quota = new_key(), Quota(rpm=3, tpm=0, max_concurrent=0)
    admitted = [await store.admit(key, quota, None) for _ in range(3)]
    assert [a.refused for a in admitted] == [None, None, None]
    assert [a.requests.remaining for a in admitted if a.requests] == [2, 1, 0]
    assert all(a.requests and 30 < a.requests.reset <= 60 for a in admitted), "a 1-min window"
    refused = await store.admit(key, quota, None)
    assert refused.refused == REQUESTS
    assert refused.ticket is None
    assert 59 < refused.retry_after <= 60
    assert refused.requests is not None
    assert (refused.requests.limit, refused.requests.remaining) == (3, 0)
    assert refused.requests.reset == pytest.approx(refused.retry_after, abs=0.05)
    other = await store.admit(new_key(), quota, None)
    assert other.refused is None, "each key has its own window"


async def test_a_refused_request_consumes_nothing(store: RateLimitStore) -> None:
    key = new_key()
    await store.admit(key, Quota(rpm=1, tpm=0, max_concurrent=0), None)
    for _ in range(3):
        assert (await store.admit(key, Quota(1, 0, 0), None)).refused == REQUESTS
    bigger = await store.admit(key, Quota(rpm=1, tpm=0, max_concurrent=1), None)
    assert bigger.refused == REQUESTS
    slots = await store.admit(key, Quota(rpm=0, tpm=0, max_concurrent=1), None)
    assert slots.refused is None, "the refused requests took no concurrency slot"


async def test_tokens_are_charged_after_and_checked_before(store: RateLimitStore) -> None:
    key, quota = new_key(), Quota(rpm=0, tpm=100, max_concurrent=0)
    first = await store.admit(key, quota, None)
    assert first.tokens == Window(100, 100, 0.0), "no tokens used: nothing to wait for"
    assert first.ticket is not None
    assert needs_settling(first.ticket)
    await store.settle(first.ticket, 60)
    second = await store.admit(key, quota, None)
    assert second.tokens is not None
    assert second.tokens.remaining == 40
    assert 30 < second.tokens.reset <= 60, "a one-minute window"
    assert second.ticket is not None
    await store.settle(second.ticket, 70)  # charged in full even beyond the limit
    third = await store.admit(key, quota, None)
    assert third.refused == TOKENS
    assert third.tokens == Window(100, 0, third.retry_after)
    assert 59 < third.retry_after <= 60


async def test_concurrency_cap_and_release(store: RateLimitStore) -> None:
    key, quota = new_key(), Quota(rpm=0, tpm=0, max_concurrent=2)
    a, b = [await store.admit(key, quota, None) for _ in range(2)]
    assert a.ticket is not None
    assert b.ticket is not None
    assert a.ticket.slot != b.ticket.slot
    third = await store.admit(key, quota, None)
    assert (third.refused, third.retry_after) == (CONCURRENCY, 1.0)
    await store.settle(a.ticket, 0)
    assert (await store.admit(key, quota, None)).refused is None


async def test_no_limits_means_nothing_to_count_or_settle(store: RateLimitStore) -> None:
    admission = await store.admit(new_key(), Quota(0, 0, 0), None)
    assert (admission.refused, admission.requests, admission.tokens) == (None, None, None)
    assert admission.ticket is not None
    assert not needs_settling(admission.ticket)
    assert openai_headers(admission) == []


async def test_failed_auth_blocks_the_ip_after_the_limit(store: RateLimitStore) -> None:
    ip, quota = new_ip(), Quota(rpm=10, tpm=0, max_concurrent=0)
    assert [await store.record_auth_failure(ip) for _ in range(3)] == [None, None, None]
    assert (await store.admit(new_key(), quota, ip)).refused == AUTH_FAILURES
    blocked_for = await store.record_auth_failure(ip)
    assert blocked_for is not None
    assert 0 < blocked_for <= FAILURES.window
    assert (await store.admit(new_key(), quota, new_ip())).refused is None, "other IPs pass"
    await asyncio.sleep(blocked_for + 0.1)  # as long as the store said
    assert (await store.admit(new_key(), quota, ip)).refused is None, "the block ends"
    assert await store.record_auth_failure(ip) is None


async def test_failed_auth_limiter_can_be_off() -> None:
    store = MemoryStore(FailurePolicy(limit=0, window=60), slot_ttl=60)
    assert [await store.record_auth_failure("10.0.0.1") for _ in range(20)] == [None] * 20


async def test_redis_slot_of_a_killed_worker_expires(redis_server: RedisServer) -> None:
    # The worker that took the slot dies (its store stops renewing, nothing is settled); another
    # worker gets the slot once the lease has run out.
    dead = RedisStore(redis_server.url, FAILURES, slot_ttl=2, timeout=STORE_TIMEOUT)
    store = RedisStore(redis_server.url, FAILURES, slot_ttl=2, timeout=STORE_TIMEOUT)
    key, quota = new_key(), Quota(rpm=0, tpm=0, max_concurrent=1)
    try:
        assert (await dead.admit(key, quota, None)).refused is None  # never settled
        await dead.aclose()
        assert (await store.admit(key, quota, None)).refused == CONCURRENCY
        await asyncio.sleep(2.1)
        assert (await store.admit(key, quota, None)).refused is None
    finally:
        await store.aclose()


async def test_redis_outage_fails_fast_and_recovers_by_itself() -> None:
    server = RedisServer()
    server.start()
    # Calls may take ten times PATIENCE: finishing within PATIENCE shows none waited for it.
    store = RedisStore(server.url, FAILURES, slot_ttl=60, timeout=10 * PATIENCE)
    key, quota = new_key(), Quota(rpm=5, tpm=0, max_concurrent=0)
    try:
        assert (await store.admit(key, quota, None)).refused is None
        server.stop()
        async with asyncio.timeout(PATIENCE):  # a dead Redis costs no timeouts
            with pytest.raises(StoreUnavailable):
                await store.admit(key, quota, None)
            with pytest.raises(StoreUnavailable, match="less than a second ago"):
                await store.admit(key, quota, None)
        server.start()
        deadline = time.monotonic() + PATIENCE
        admission: Admission | None = None
        while admission is None and time.monotonic() < deadline:
            try:
                admission = await store.admit(key, quota, None)
            except StoreUnavailable:
                await asyncio.sleep(0.1)
        assert admission is not None
        assert admission.refused is None
        assert admission.requests is not None
        assert admission.requests.remaining == 4
    finally:
        await store.aclose()
        server.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (1, "1s"), (59.2, "1m0s"), (360, "6m0s"), (3725, "1h2m5s")],
)
def test_reset_uses_openais_duration_format(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_headers_are_the_openai_trios() -> None:
    admission = Admission(None, 0, Window(60, 59, 60), Window(1000, 250, 6.5), None)
    assert openai_headers(admission) == [
        (b"x-ratelimit-limit-requests", b"60"),
        (b"x-ratelimit-remaining-requests", b"59"),
        (b"x-ratelimit-reset-requests", b"1m0s"),
        (b"x-ratelimit-limit-tokens", b"1000"),
        (b"x-ratelimit-remaining-tokens", b"250"),
        (b"x-ratelimit-reset-tokens", b"7s"),
    ]
