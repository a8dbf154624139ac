"""The usage ledger's semantics, the same on both stores: charges add up per key, model, UTC
day and month; periods roll over at midnight UTC; hashes expire after the retention; budgets
refuse with the reset time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import redis

from gateway.access.keytable import ApiKey
from gateway.access.usage.budgets import Budgets, QuotaExhausted, refusal, remaining
from gateway.access.usage.ledger import (
    DAY_SECONDS,
    Ledger,
    Totals,
    Usage,
    UsageStore,
    UsageUnavailable,
    day_hash,
    month_hash,
    next_day,
    next_month,
)
from gateway.access.usage.memory_store import MemoryUsageStore
from gateway.access.usage.redis_store import RedisUsageStore
from tests.unit.gateway.access.ratelimit_support import RedisServer, running_redis

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MODEL = "gpt-oss:20b"
ANSWER = Usage(requests=1, prompt=10, completion=20, reasoning=8)
RETENTION_DAYS = 400


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the module (each test flushes it)."""
    with running_redis() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[UsageStore]:
    """Each test runs against both stores."""
    if request.param == "memory":
        yield MemoryUsageStore(clock=lambda: NOON.timestamp())
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushall()
    redis_store = RedisUsageStore(server.url, timeout=10)
    yield redis_store
    await redis_store.aclose()


@pytest.fixture
def ledger(store: UsageStore) -> Ledger:
    """A ledger on the store under test."""
    return Ledger(store, RETENTION_DAYS)


async def test_charges_add_up_per_model_day_and_month(ledger: Ledger) -> None:
    await ledger.charge("key_a", "alice", MODEL, ANSWER, NOON)
    await ledger.charge("key_a", "alice", MODEL, Usage(requests=1, errors=1), NOON)
    await ledger.charge("key_a", "alice", "nomic-embed-text:latest", Usage(1, prompt=5), NOON)
    day, month = await ledger.periods("key_a", NOON)
    assert day == month
    assert day == {
        MODEL: Usage(requests=2, prompt=10, completion=20, reasoning=8, errors=1),
        "nomic-embed-text:latest": Usage(requests=1, prompt=5),
    }
    assert await ledger.totals("key_a", NOON) == Totals(3, 35, 3, 35)


async def test_keys_never_see_each_others_usage(ledger: Ledger) -> None:
    await ledger.charge("key_a", "alice", MODEL, ANSWER, NOON)
    await ledger.charge("key_b", "bob", MODEL, ANSWER, NOON)
    await ledger.charge("key_b", "bob", MODEL, ANSWER, NOON)
    assert await ledger.totals("key_a", NOON) == Totals(1, 30, 1, 30)
    assert await ledger.totals("key_b", NOON) == Totals(2, 60, 2, 60)
    assert await ledger.totals("key_c", NOON) == Totals()


async def test_days_roll_over_at_midnight_utc_and_months_at_the_first(ledger: Ledger) -> None:
    last_evening = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    first_morning = last_evening + timedelta(seconds=2)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, last_evening - timedelta(days=1))
    await ledger.charge("key_a", "alice", MODEL, ANSWER, last_evening)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, first_morning)
    assert await ledger.totals("key_a", last_evening) == Totals(1, 30, 2, 60)
    assert await ledger.totals("key_a", first_morning) == Totals(1, 30, 1, 30)
    # A time zone other than UTC names the same instant: same day.
    east = last_evening.astimezone(datetime.now().astimezone().tzinfo)
    assert await ledger.totals("key_a", east) == Totals(1, 30, 2, 60)


async def test_the_report_lists_every_key_charged_each_day_by_name(ledger: Ledger) -> None:
    await ledger.charge("key_b", "bob", MODEL, ANSWER, NOON)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, NOON)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, NOON + timedelta(days=1))
    rows = await ledger.days(date(2026, 12, 4), date(2026, 12, 6))
    assert [(day.isoformat(), key_id, name) for day, key_id, name, _ in rows] == [
        ("2026-12-05", "key_a", "alice"),
        ("2026-12-05", "key_b", "bob"),
        ("2026-12-06", "key_a", "alice"),
    ]
    assert all(models == {MODEL: ANSWER} for *_, models in rows)


async def test_concurrent_charges_are_all_counted(ledger: Ledger) -> None:
    await asyncio.gather(
        *(ledger.charge("key_a", "alice", MODEL, ANSWER, NOON) for _ in range(200))
    )
    assert await ledger.totals("key_a", NOON) == Totals(200, 6000, 200, 6000)


async def test_redis_hashes_expire_the_retention_after_their_period(
    redis_server: RedisServer,
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    store = RedisUsageStore(redis_server.url, timeout=10)
    try:
        now = datetime.now(UTC)
        await Ledger(store, RETENTION_DAYS).charge("key_a", "alice", MODEL, ANSWER, now)
    finally:
        await store.aclose()
    client = redis.Redis.from_url(redis_server.url)
    retention = RETENTION_DAYS * DAY_SECONDS
    day_ttl = client.ttl(day_hash("key_a", now.date()))
    month_ttl = client.ttl(month_hash("key_a", now.date()))
    assert 0 < day_ttl - retention <= (next_day(now) - now).total_seconds() + 1
    assert 0 < month_ttl - retention <= (next_month(now) - now).total_seconds() + 1


async def test_the_memory_store_forgets_periods_past_their_retention() -> None:
    clock = [NOON.timestamp()]
    ledger = Ledger(MemoryUsageStore(clock=lambda: clock[0]), retention_days=1)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, NOON)
    clock[0] += 2 * DAY_SECONDS  # a day after the day ended: the day hash is gone
    later = NOON + timedelta(days=2)
    await ledger.charge("key_a", "alice", MODEL, ANSWER, later)
    assert await ledger.totals("key_a", NOON) == Totals(0, 0, 2, 60)


async def test_a_dead_redis_is_reported_as_unavailable() -> None:
    server = RedisServer()  # never started: nothing listens on its port
    store = RedisUsageStore(server.url, timeout=1)
    try:
        with pytest.raises(UsageUnavailable):
            await Ledger(store, RETENTION_DAYS).charge("key_a", "alice", MODEL, ANSWER, NOON)
        with pytest.raises(UsageUnavailable):
            await Ledger(store, RETENTION_DAYS).totals("key_a", NOON)
    finally:
        await store.aclose()
        server.close()


ALICE = ApiKey(id="key_a", name="alice", digest=b"")


def test_a_budget_reached_is_refused_until_it_resets() -> None:
    budgets = Budgets(daily_tokens=100)
    assert refusal(ALICE, budgets, Totals(day_tokens=99), NOON) is None
    refused = refusal(ALICE, budgets, Totals(day_tokens=100), NOON)
    assert isinstance(refused, QuotaExhausted)
    assert (refused.status, refused.type, refused.code) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert refused.headers["Retry-After"] == str(12 * 3600)
    assert "daily token budget: 100 of 100 tokens" in refused.message
    assert "resets at 2026-12-06 00:00 UTC, in 12h" in refused.message
    assert "gateway keys update alice --daily-tokens N" in refused.message


def test_when_day_and_month_are_both_used_up_the_month_decides() -> None:
    budgets = Budgets(daily_requests=5, monthly_requests=10)
    refused = refusal(ALICE, budgets, Totals(day_requests=5, month_requests=10), NOON)
    assert refused is not None
    assert "monthly request budget: 10 of 10 requests" in refused.message
    assert "resets at 2027-01-01 00:00 UTC, in 26d 12h" in refused.message


def test_remaining_is_left_per_budget_and_null_without_one() -> None:
    budgets = Budgets(daily_tokens=100, monthly_requests=10)
    left = remaining(budgets, Totals(day_tokens=130, month_requests=4))
    assert left == {
        "daily_tokens": 0,
        "monthly_tokens": None,
        "daily_requests": None,
        "monthly_requests": 6,
    }
