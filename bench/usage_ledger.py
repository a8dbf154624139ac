"""What the usage ledger costs against a local Redis: one charge and one budget check (p50, p99,
sequential, one connection), and Redis memory per key and day.

    .venv/bin/python bench/usage_ledger.py --redis redis://127.0.0.1:6379/15 [--samples 5000]

Uses the gateway's own ledger code (``gateway.access.usage``). **Flushes the given database**:
point it at a scratch one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import redis

from gateway.access.usage.ledger import Ledger, Usage
from gateway.access.usage.redis_store import RedisUsageStore

ANSWER = Usage(requests=1, prompt=812, completion=431, reasoning=220)
FIRST_DAY = datetime(2026, 12, 5, 12, tzinfo=UTC)
MODELS = ("gpt-oss:20b", "gpt-oss:120b", "nomic-embed-text:latest")


def percentiles(samples: list[float]) -> str:
    """p50 and p99 in microseconds."""
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"p50 {statistics.median(ordered) * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs"


async def timings(url: str, samples: int) -> None:
    """Sequential charges, then sequential budget reads, of one key."""
    store = RedisUsageStore(url, timeout=5)
    ledger = Ledger(store, retention_days=400)
    now = datetime.now(UTC)
    try:
        for _ in range(200):  # warm-up: connection, script cache
            await ledger.charge("key_bench", "bench", MODELS[0], ANSWER, now)
        charges, checks = [], []
        for _ in range(samples):
            started = time.perf_counter()
            await ledger.charge("key_bench", "bench", MODELS[0], ANSWER, now)
            charges.append(time.perf_counter() - started)
        for _ in range(samples):
            started = time.perf_counter()
            await ledger.totals("key_bench", now)
            checks.append(time.perf_counter() - started)
    finally:
        await store.aclose()
    print(f"charge (1 Lua script: 2 hashes, index):   {percentiles(charges)}")
    print(f"budget check (2 HGETALL, pipelined):      {percentiles(checks)}")


async def memory(url: str, keys: int, models: int) -> tuple[float, float]:
    """Bytes of Redis memory per key for its first day of a month (day hash, month hash, index
    entry) and for each further day (day hash, index entry), for keys using ``models`` models."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    store = RedisUsageStore(url, timeout=5)
    ledger = Ledger(store, retention_days=400)
    used = [int(client.info("memory")["used_memory"])]
    try:
        for day in (FIRST_DAY, FIRST_DAY + timedelta(days=1)):
            for index in range(keys):
                for model in MODELS[:models]:
                    await ledger.charge(f"key_{index:06d}", f"user{index}", model, ANSWER, day)
            used.append(int(client.info("memory")["used_memory"]))
    finally:
        await store.aclose()
    client.flushdb()
    return (used[1] - used[0]) / keys, (used[2] - used[1]) / keys


def main() -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True, help="scratch Redis database (is flushed)")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--keys", type=int, default=2000)
    args = parser.parse_args()
    redis.Redis.from_url(args.redis).flushdb()
    asyncio.run(timings(args.redis, args.samples))
    for models in (1, 3):
        first, further = asyncio.run(memory(args.redis, args.keys, models))
        print(
            f"memory per key, {models} model(s): first day of a month {first:.0f} bytes "
            f"(day + month hash), each further day {further:.0f} bytes"
        )


if __name__ == "__main__":
    main()
