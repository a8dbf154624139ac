"""The ``memory://`` rate-limit store: ``limits.aio``'s fixed-window strategy on its async memory
storage, plus a table of in-flight slots. Counts live in this worker only: with N gunicorn
workers every limit is effectively N times larger (the gateway warns at start).
"""

from __future__ import annotations

import itertools
import time

from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter

from gateway.access.ratelimit.store import (
    AUTH_FAILURES,
    CONCURRENCY,
    NAMESPACE,
    REQUESTS,
    TOKENS,
    Admission,
    FailurePolicy,
    Quota,
    Ticket,
    Window,
    per_minute,
    per_window,
)


class MemoryStore:
    """Rate-limit counters in this process (see :class:`.store.RateLimitStore`)."""

    def __init__(self, failures: FailurePolicy, *, slot_ttl: float) -> None:
        self._windows = FixedWindowRateLimiter(MemoryStorage())
        self._failures = failures
        self._slot_ttl = slot_ttl
        self._slots: dict[str, dict[str, float]] = {}
        self._slot_ids = itertools.count()

    async def _window(self, amount: int, kind: str, key_id: str) -> Window | None:
        if not amount:
            return None
        stats = await self._windows.get_window_stats(per_minute(amount), NAMESPACE, kind, key_id)
        return Window(amount, stats.remaining, max(0.0, stats.reset_time - time.time()))

    def _active_slots(self, key_id: str) -> dict[str, float]:
        slots = self._slots.setdefault(key_id, {})
        now = time.time()
        for slot in [s for s, expiry in slots.items() if expiry <= now]:
            del slots[slot]
        return slots

    async def _blocked_for(self, client_ip: str | None) -> float | None:
        if not self._failures.limit or client_ip is None:
            return None
        item = per_window(self._failures.limit, self._failures.window)
        if await self._windows.test(item, NAMESPACE, AUTH_FAILURES, client_ip):
            return None
        stats = await self._windows.get_window_stats(item, NAMESPACE, AUTH_FAILURES, client_ip)
        return max(0.0, stats.reset_time - time.time())

    async def admit(self, key_id: str, quota: Quota, client_ip: str | None) -> Admission:
        """Check the IP block, rpm, tpm and the concurrency cap; count the request if admitted."""
        blocked = await self._blocked_for(client_ip)
        if blocked is not None:
            return Admission(AUTH_FAILURES, blocked, None, None, None)
        requests = await self._window(quota.rpm, REQUESTS, key_id)
        tokens = await self._window(quota.tpm, TOKENS, key_id)
        slots = self._active_slots(key_id) if quota.max_concurrent else {}
        if requests is not None and requests.remaining == 0:
            return Admission(REQUESTS, requests.reset, requests, tokens, None)
        if tokens is not None and tokens.remaining == 0:
            return Admission(TOKENS, tokens.reset, requests, tokens, None)
        if quota.max_concurrent and len(slots) >= quota.max_concurrent:
            return Admission(CONCURRENCY, 1.0, requests, tokens, None)
        slot = None
        if quota.max_concurrent:
            slot = str(next(self._slot_ids))
            slots[slot] = time.time() + self._slot_ttl
        if quota.rpm:
            await self._windows.hit(per_minute(quota.rpm), NAMESPACE, REQUESTS, key_id)
            requests = await self._window(quota.rpm, REQUESTS, key_id)
        return Admission(None, 0.0, requests, tokens, Ticket(key_id, quota.tpm, slot))

    async def settle(self, ticket: Ticket, tokens: int) -> None:
        """Charge the tokens to the key's window and free its slot."""
        if ticket.tpm and tokens > 0:
            item = per_minute(ticket.tpm)
            await self._windows.hit(item, NAMESPACE, TOKENS, ticket.key_id, cost=tokens)
        if ticket.slot is not None:
            slots = self._slots.get(ticket.key_id)
            if slots is not None:
                slots.pop(ticket.slot, None)
                if not slots:
                    del self._slots[ticket.key_id]

    async def record_auth_failure(self, client_ip: str) -> float | None:
        """Count a failed key check; seconds until the IP may try again once over the limit."""
        if not self._failures.limit:
            return None
        item = per_window(self._failures.limit, self._failures.window)
        if await self._windows.hit(item, NAMESPACE, AUTH_FAILURES, client_ip):
            return None
        stats = await self._windows.get_window_stats(item, NAMESPACE, AUTH_FAILURES, client_ip)
        return max(0.0, stats.reset_time - time.time())

    async def aclose(self) -> None:
        """Nothing to release."""
