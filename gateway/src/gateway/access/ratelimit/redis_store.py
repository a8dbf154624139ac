"""The ``redis://`` rate-limit store: one Lua script per request, shared by every worker.

The admission script checks, in this order, the client IP's failed-auth count, the key's
requests window, its tokens window and its in-flight slots, and only when all pass counts the
request and takes a slot: a refused request consumes nothing. Windows follow ``limits``' fixed
window (the counter expires one window after its first hit) and use the same counter names, so
the ``x-ratelimit-reset-*`` headers are the counters' remaining TTLs. In-flight slots are a sorted
set scored by expiry: a lease of ``slot_ttl`` seconds that the worker holding the slot renews
while its request runs, so the slots of a killed worker (SIGKILL, OOM) free up one lease after
its death instead of keeping the key at its concurrency cap, however long requests may last.

Every call has a short timeout and no retry backoff; after a failure the store is not asked again
for a second (each call fails fast instead), then it is retried: recovery is automatic.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.access.ratelimit.store import (
    AUTH_FAILURES,
    CONCURRENCY,
    REQUESTS,
    TOKENS,
    Admission,
    FailurePolicy,
    Quota,
    StoreUnavailable,
    Ticket,
    Window,
    failures_key,
    requests_key,
    tokens_key,
)

PAUSE_AFTER_FAILURE = 1.0
# Leases are renewed this often (as a share of the lease): a worker whose event loop stalls for
# most of a lease keeps its slots; one that died loses them within a lease.
RENEWALS_PER_LEASE = 4
log = logging.getLogger("gateway.ratelimit")
VERDICTS = (None, REQUESTS, TOKENS, CONCURRENCY, AUTH_FAILURES)

# KEYS: requests counter, tokens counter, in-flight set, failed-auth counter of the client IP
# ARGV: rpm, window ms, tpm, max in flight, slot id, slot ttl ms, failed-auth limit
# Returns {verdict, requests used, requests reset ms, tokens used, tokens reset ms, retry ms}.
ADMIT = """
local function reset(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return 0 end
  return ttl
end
local rpm, window, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cap, fail_limit = tonumber(ARGV[4]), tonumber(ARGV[7])
if fail_limit > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= fail_limit then
  return {4, 0, 0, 0, 0, reset(KEYS[4])}
end
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local requests_reset = reset(KEYS[1])
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local tokens_reset = reset(KEYS[2])
if rpm > 0 and requests >= rpm then
  return {1, requests, requests_reset, tokens, tokens_reset, requests_reset}
end
if tpm > 0 and tokens >= tpm then
  return {2, requests, requests_reset, tokens, tokens_reset, tokens_reset}
end
if cap > 0 then
  local now = redis.call('TIME')
  local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[3]) >= cap then
    return {3, requests, requests_reset, tokens, tokens_reset, 1000}
  end
  redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
if rpm > 0 then
  requests = redis.call('INCR', KEYS[1])
  if requests_reset == 0 then
    redis.call('PEXPIRE', KEYS[1], window)
    requests_reset = window
  end
end
return {0, requests, requests_reset, tokens, tokens_reset, 0}
"""

# KEYS: tokens counter, in-flight set; ARGV: tokens, window ms, slot id ('' for none)
SETTLE = """
local tokens = tonumber(ARGV[1])
if tokens > 0 then
  local used = redis.call('INCRBY', KEYS[1], tokens)
  if used == tokens or redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
end
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
"""

# KEYS: in-flight set; ARGV: lease ms, slot ids. Pushes the expiry of the slots that are still
# there (XX: a slot freed meanwhile is not taken again) one lease ahead.
RENEW = """
local now = redis.call('TIME')
local expiry = now[1] * 1000 + math.floor(now[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# KEYS: failed-auth counter; ARGV: window ms. Returns {failures, reset ms}.
FAIL = """
local failures = redis.call('INCR', KEYS[1])
if failures == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {failures, redis.call('PTTL', KEYS[1])}
"""

WINDOW_MS = 60_000


def slots_key(key_id: str) -> str:
    """Name of a key's in-flight set (independent of the cap, so a new cap keeps the slots)."""
    return f"gateway/inflight/{key_id}"


def connect(url: str, timeout: float) -> redis.asyncio.Redis[bytes]:
    """A Redis client with short timeouts and one immediate retry (a pooled connection that
    Redis dropped); shared by the rate limits and the admission control."""
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )


class RedisStore:
    """Rate-limit counters in Redis (see :class:`gateway.access.ratelimit.store.RateLimitStore`)."""

    def __init__(
        self,
        url: str,
        failures: FailurePolicy,
        *,
        slot_ttl: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = connect(url, timeout)
        self._admit = self._client.register_script(ADMIT)
        self._settle = self._client.register_script(SETTLE)
        self._fail = self._client.register_script(FAIL)
        self._renew = self._client.register_script(RENEW)
        self._failures = failures
        self._slot_ttl_ms = int(slot_ttl * 1000)
        self._clock = clock
        self._paused_until = 0.0
        self._slot_prefix = secrets.token_hex(4) + ":"  # unique across workers and replicas
        self._slot_ids = itertools.count()
        self._held: dict[str, set[str]] = {}  # key id -> slots of this worker's live requests
        self._renewer: asyncio.Task[None] | None = None

    async def _run(self, script: Any, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        if self._clock() < self._paused_until:
            raise StoreUnavailable("the rate-limit store failed less than a second ago")
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._paused_until = self._clock() + PAUSE_AFTER_FAILURE
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def admit(self, key_id: str, quota: Quota, client_ip: str | None) -> Admission:
        """One round trip: check the IP block, rpm, tpm and the cap; count if admitted."""
        slot = f"{self._slot_prefix}{next(self._slot_ids)}" if quota.max_concurrent else ""
        fail_limit = self._failures.limit if client_ip is not None else 0
        keys = (
            requests_key(key_id, quota.rpm),
            tokens_key(key_id, quota.tpm),
            slots_key(key_id),
            failures_key(self._failures, client_ip or "-"),
        )
        args = (
            quota.rpm,
            WINDOW_MS,
            quota.tpm,
            quota.max_concurrent,
            slot,
            self._slot_ttl_ms,
            fail_limit,
        )
        verdict, requests, requests_reset, tokens, tokens_reset, retry = [
            int(value) for value in await self._run(self._admit, keys, args)
        ]
        refused = VERDICTS[verdict]
        requests_window = tokens_window = None
        if quota.rpm and refused != AUTH_FAILURES:
            remaining = max(0, quota.rpm - requests)
            requests_window = Window(quota.rpm, remaining, requests_reset / 1000)
        if quota.tpm and refused != AUTH_FAILURES:
            tokens_window = Window(quota.tpm, max(0, quota.tpm - tokens), tokens_reset / 1000)
        ticket = None if refused else Ticket(key_id, quota.tpm, slot or None)
        if ticket is not None and slot:
            self._held.setdefault(key_id, set()).add(slot)
            self._start_renewing()
        return Admission(refused, retry / 1000, requests_window, tokens_window, ticket)

    async def settle(self, ticket: Ticket, tokens: int) -> None:
        """One round trip: charge the tokens and free the slot."""
        keys = (tokens_key(ticket.key_id, ticket.tpm), slots_key(ticket.key_id))
        charged = tokens if ticket.tpm else 0
        if ticket.slot is not None:  # no longer renewed, even if Redis cannot be told now
            held = self._held.get(ticket.key_id)
            if held is not None:
                held.discard(ticket.slot)
                if not held:
                    del self._held[ticket.key_id]
        await self._run(self._settle, keys, (charged, WINDOW_MS, ticket.slot or ""))

    async def record_auth_failure(self, client_ip: str) -> float | None:
        """Count a failed key check; seconds until the IP may try again once over the limit."""
        if not self._failures.limit:
            return None
        keys = (failures_key(self._failures, client_ip),)
        failures, reset_ms = await self._run(self._fail, keys, (self._failures.window * 1000,))
        return max(0, int(reset_ms)) / 1000 if int(failures) > self._failures.limit else None

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())

    async def _renew_leases(self) -> None:
        """While this worker holds slots, push their expiry ahead every part of a lease."""
        while self._held:
            await asyncio.sleep(self._slot_ttl_ms / 1000 / RENEWALS_PER_LEASE)
            for key_id, slots in list(self._held.items()):
                try:
                    await self._run(self._renew, (slots_key(key_id),), (self._slot_ttl_ms, *slots))
                except StoreUnavailable as exc:  # the next round tries again
                    log.debug("could not renew in-flight slots: %s", exc)

    async def aclose(self) -> None:
        """Stop renewing and close the connection pool."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self._client.connection_pool.disconnect()
