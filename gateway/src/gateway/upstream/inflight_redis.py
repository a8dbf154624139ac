"""Generations in flight per backend counted in Redis, so that every gateway worker and replica
picks by the same counts (one Lua script both picks the backend and counts the generation).

One sorted set per backend, member = a random lease id, score = its expiry in Redis time (ms).
The script drops expired leases, scores each candidate (its count plus the penalty the router
computed: model not loaded, answered "busy"), takes the lowest, the first in the order given on a
tie (the router shuffles the candidates: ties go at random), and adds the lease there. A lease
outlives the longest generation (first-byte timeout plus the generation cap), so the count of a
worker that died mid-generation frees up by itself; a live worker removes its lease when the
generation ends. When Redis fails, the counts are not asked for again for
:data:`RETRY_AFTER_FAILURE_SECONDS` (the router picks by its own counts meanwhile): a Redis that
hangs must not slow every request down.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from time import monotonic
from typing import Any

from redis.exceptions import RedisError

from gateway.access.ratelimit.redis_store import connect
from gateway.settings import Settings

# KEYS: the candidates' sets, in tie-break order. ARGV: ttl ms, lease, penalty per key.
# Returns the 1-based index of the chosen key.
PICK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best, lowest = 1, nil
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local score = redis.call('ZCARD', key) + tonumber(ARGV[2 + i])
  if lowest == nil or score < lowest then best, lowest = i, score end
end
redis.call('ZADD', KEYS[best], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[best], ARGV[1])
return best
"""


RETRY_AFTER_FAILURE_SECONDS = 1.0


class CountsUnavailable(Exception):
    """Redis could not be reached: the router falls back to this worker's own counts."""


def lease_seconds(settings: Settings) -> float:
    """How long a generation's count lasts unless removed: longer than any generation."""
    longest = settings.max_generation_seconds or settings.total_timeout
    return settings.first_byte_timeout + longest + settings.chunk_timeout


class SharedInFlight:
    """The in-flight counts of every backend, in the Redis that holds the rate limits."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = monotonic) -> None:
        self._client = connect(settings.ratelimit_storage, settings.ratelimit_timeout)
        self._clock = clock
        self._quiet_until = 0.0  # after a failure, Redis is left alone until then
        self._ttl_ms = int(lease_seconds(settings) * 1000)
        self._pick = self._client.register_script(PICK)

    @staticmethod
    def key(url: str) -> str:
        """The sorted set of the backend at ``url`` (hashed: the URL may carry a password)."""
        return f"gateway/backend/{hashlib.sha256(url.encode()).hexdigest()[:16]}/in_flight"

    async def _run(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except (RedisError, OSError) as exc:
            self._quiet_until = self._clock() + RETRY_AFTER_FAILURE_SECONDS
            raise CountsUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def claim(self, urls: Sequence[str], penalties: Sequence[int]) -> tuple[int, str] | None:
        """Count a generation on the lowest-scoring backend: (its index in ``urls``, lease).

        None, at once, within a second of a failure (:class:`CountsUnavailable` is the failure).
        """
        if self._clock() < self._quiet_until:
            return None
        lease = secrets.token_hex(8)
        keys = [self.key(url) for url in urls]
        chosen = await self._run(self._pick(keys=keys, args=[self._ttl_ms, lease, *penalties]))
        return int(chosen) - 1, lease

    async def release(self, url: str, lease: str) -> None:
        """The generation counted under ``lease`` ended."""
        await self._run(self._client.zrem(self.key(url), lease))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.connection_pool.disconnect()
