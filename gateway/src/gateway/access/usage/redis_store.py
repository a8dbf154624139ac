"""The ledger in Redis (``GATEWAY_RATELIMIT_STORAGE=redis://...``), shared by every worker and
replica; durable when Redis persists (compose runs it with AOF on the ``redis-data`` volume).

A charge is one Lua script (atomic, one round trip): ``HINCRBY`` of each field on the key's day
and month hashes, ``EXPIREAT`` on both, and the key's name in the day's index. Reads are one
pipelined round trip of ``HGETALL``.

The connection pool makes a call wait for a free connection (up to ``POOL_WAIT`` seconds) when
all are busy: redis-py's default pool fails at once past 100 connections, which would lose the
charges of a burst of answers finishing together in one worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import redis.asyncio
from redis.asyncio.connection import BlockingConnectionPool, Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.access.usage.ledger import Charge, UsageUnavailable, index_hash

# KEYS: day hash, month hash, day index
# ARGV: day expire-at, month expire-at, key id, key name, then field, amount, field, amount...
CHARGE = """
for i = 5, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('EXPIREAT', KEYS[3], ARGV[1])
return 1
"""
POOL_SIZE = 64
POOL_WAIT = 10.0


def _decoded(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {name.decode(): int(value) for name, value in raw.items()}


class RedisUsageStore:
    """Ledger hashes in Redis (see :class:`gateway.access.usage.ledger.UsageStore`)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        pool: BlockingConnectionPool[Connection] = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        self._client: redis.asyncio.Redis[bytes] = redis.asyncio.Redis(connection_pool=pool)
        self._charge = self._client.register_script(CHARGE)

    async def add(self, charge: Charge) -> None:
        """One round trip: the charge script."""
        (day, day_expiry), (month, month_expiry) = charge.hashes
        args: list[str | int] = [day_expiry, month_expiry, charge.key_id, charge.key_name]
        for name, amount in charge.increments:
            args += [name, amount]
        try:
            await self._charge(keys=(day, month, charge.index), args=args)
        except (RedisError, OSError) as exc:
            raise UsageUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def read(self, names: Sequence[str]) -> list[dict[str, int]]:
        """One round trip: ``HGETALL`` of each hash."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(name)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise UsageUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return [_decoded(reply) for reply in replies]

    async def index(self, day: date) -> dict[str, str]:
        """Key id -> name of the keys charged on ``day``."""
        try:
            raw = await self._client.hgetall(index_hash(day))
        except (RedisError, OSError) as exc:
            raise UsageUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return {key_id.decode(): name.decode() for key_id, name in raw.items()}

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.connection_pool.disconnect()
