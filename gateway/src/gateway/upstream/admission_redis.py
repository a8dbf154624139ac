"""The Redis :class:`~gateway.upstream.admission.SlotStore`: one backend's slots and queue shared
by every worker and gateway replica (in the Redis that holds the rate limits).

Two sorted sets per backend, member = a random id, score = expiry in Redis time (ms): the
admitted generations (``…/slots``) and the queued requests (``…/queue``). Every script first
drops what expired, so the places of a dead worker free up after the lease time; live workers
renew theirs. Each call is one Lua script, atomic in Redis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Collection
from typing import Any

from redis.exceptions import RedisError

from gateway.access.ratelimit.redis_store import connect
from gateway.upstream.admission import SlotUnavailable

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
"""

# KEYS: slots, queue. ARGV: capacity, lease, ttl ms, place ('' for a newcomer). Returns 1 or 0.
ADMIT = (
    _NOW
    + """
if ARGV[4] == '' and redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
return 1
"""
)

# KEYS: slots, queue. ARGV: queue max, place, ttl ms. Returns 1 (queued) or 0 (full).
ENQUEUE = (
    _NOW
    + """
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
)

# KEYS: slots, queue. ARGV: ttl ms, number of leases, leases..., places... (only existing ones).
RENEW = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
local leases = tonumber(ARGV[2])
for i = 3, #ARGV do
  local key = KEYS[2]
  if i < 3 + leases then key = KEYS[1] end
  redis.call('ZADD', key, 'XX', now + ttl, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""
)

# KEYS: slots, queue. Returns {admitted, queued}.
COUNTS = _NOW + "return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}"


class RedisSlots:
    """Slots and queue places of one backend, in Redis."""

    def __init__(
        self,
        url: str,
        *,
        backend: str,
        capacity: int,
        queue_max: int,
        lease_seconds: float,
        timeout: float,
    ) -> None:
        self._client = connect(url, timeout)
        name = hashlib.sha256(backend.encode()).hexdigest()[:16]
        self._keys = (f"gateway/admission/{name}/slots", f"gateway/admission/{name}/queue")
        self._capacity = capacity
        self._queue_max = queue_max
        self._ttl_ms = int(lease_seconds * 1000)
        self._admit = self._client.register_script(ADMIT)
        self._enqueue = self._client.register_script(ENQUEUE)
        self._renew = self._client.register_script(RENEW)
        self._counts = self._client.register_script(COUNTS)

    async def _run(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except (RedisError, OSError) as exc:
            raise SlotUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def admit(self, lease: str, *, place: str | None) -> bool:
        """Take a slot if one is free (a newcomer only while nobody is queued)."""
        args = (self._capacity, lease, self._ttl_ms, place or "")
        return bool(int(await self._run(self._admit(keys=self._keys, args=args))))

    async def enqueue(self, place: str) -> bool:
        """Join the queue unless it is full."""
        args = (self._queue_max, place, self._ttl_ms)
        return bool(int(await self._run(self._enqueue(keys=self._keys, args=args))))

    async def leave(self, place: str) -> None:
        """Leave the queue."""
        await self._run(self._client.zrem(self._keys[1], place))

    async def release(self, lease: str) -> None:
        """Give a slot back."""
        await self._run(self._client.zrem(self._keys[0], lease))

    async def renew(self, leases: Collection[str], places: Collection[str]) -> None:
        """Push the expiry of live slots and places one lease time ahead."""
        if leases or places:
            args: list[int | str] = [self._ttl_ms, len(leases), *leases, *places]
            await self._run(self._renew(keys=self._keys, args=args))

    async def counts(self) -> tuple[int, int]:
        """(admitted, queued) across every worker and replica."""
        admitted, queued = await self._run(self._counts(keys=self._keys, args=()))
        return int(admitted), int(queued)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.connection_pool.disconnect()
