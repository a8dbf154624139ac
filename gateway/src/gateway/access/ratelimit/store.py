"""Rate limits per API key: requests/minute, tokens/minute and in-flight requests, plus the
failed-auth limiter per client IP. This module holds the vocabulary, the OpenAI headers and the
choice of store; the stores are :mod:`gateway.access.ratelimit.memory_store` and
:mod:`gateway.access.ratelimit.redis_store`.

Why not slowapi's ``Limiter`` on the hot path: it calls its store synchronously (a slow Redis
would block the event loop), its middleware is a ``BaseHTTPMiddleware`` (slow, and blind to
client disconnects), it checks one limit per store round trip, sends ``X-RateLimit-*`` instead of
OpenAI's headers and cannot charge tokens *after* a response. So the gateway uses slowapi's
foundation, the ``limits`` library, directly:

* every limit is a ``limits`` :class:`RateLimitItem` (``RateLimitItemPerMinute(60)``), and its
  ``key_for()`` names the counter, in memory and in Redis alike;
* semantics are those of ``limits``' fixed-window strategy: a window opens with the first hit and
  lasts a minute, ``reset`` is the time until it closes; a request is admitted while fewer than
  ``rpm`` requests were counted and while fewer than ``tpm`` tokens were charged in the window;
  tokens are charged after the response from the real usage (a stream's final chunk, also when
  the client disconnected);
* ``memory://`` runs ``limits.aio``'s :class:`FixedWindowRateLimiter` on its async
  :class:`MemoryStorage` (one process: every worker counts on its own);
* ``redis://`` checks the failed-auth block, rpm, tpm and the concurrency cap and counts the
  request in **one** round trip (a Lua script through ``redis.asyncio``); a second one, sent as
  the last byte goes out and not waited for by the client, charges the tokens and frees the
  concurrency slot (skipped when neither applies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond

NAMESPACE = "gateway"
# Which limit refused a request: the ``limit`` label of the rejection metric.
REQUESTS = "requests"
TOKENS = "tokens"
CONCURRENCY = "concurrency"
AUTH_FAILURES = "auth_failures"
STORE_UNAVAILABLE = "store_unavailable"


class StoreUnavailable(Exception):
    """The rate-limit store did not answer (Redis down, refused, or too slow)."""


@dataclass(frozen=True, slots=True)
class Quota:
    """The limits of one key; 0 means no limit."""

    rpm: int
    tpm: int
    max_concurrent: int


@dataclass(frozen=True, slots=True)
class Window:
    """One limit's state after the check: for the ``x-ratelimit-*`` headers."""

    limit: int
    remaining: int
    reset: float  # seconds until the window closes and the limit is whole again


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the store needs after the response: which token counter and concurrency slot."""

    key_id: str
    tpm: int
    slot: str | None  # the concurrency entry to free (None: no cap on this key)


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one request."""

    refused: str | None  # None when admitted, else REQUESTS / TOKENS / CONCURRENCY / AUTH_FAILURES
    retry_after: float
    requests: Window | None
    tokens: Window | None
    ticket: Ticket | None


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """The failed-auth limiter: ``limit`` failures per ``window`` seconds per client IP."""

    limit: int
    window: int


class RateLimitStore(Protocol):
    """Where the counters live (memory of this worker, or Redis shared by all)."""

    async def admit(self, key_id: str, quota: Quota, client_ip: str | None) -> Admission:
        """Check every limit of the key (and the client IP's auth failures); count if admitted."""

    async def settle(self, ticket: Ticket, tokens: int) -> None:
        """After the response: charge ``tokens`` and free the concurrency slot."""

    async def record_auth_failure(self, client_ip: str) -> float | None:
        """Count one failed key check; past the limit, seconds until the IP may try again."""

    async def aclose(self) -> None:
        """Release connections."""


def needs_settling(ticket: Ticket) -> bool:
    """True when the response must be followed by a store update (tokens or a slot)."""
    return ticket.tpm > 0 or ticket.slot is not None


@lru_cache(maxsize=512)
def per_minute(amount: int) -> RateLimitItem:
    """The ``limits`` item for ``amount`` per minute (cached: one object per distinct limit)."""
    return RateLimitItemPerMinute(amount)


@lru_cache(maxsize=8)
def per_window(amount: int, seconds: int) -> RateLimitItem:
    """The ``limits`` item for ``amount`` per ``seconds`` seconds."""
    return RateLimitItemPerSecond(amount, seconds)


def requests_key(key_id: str, rpm: int) -> str:
    """Counter name of a key's requests window."""
    return per_minute(rpm).key_for(NAMESPACE, REQUESTS, key_id)


def tokens_key(key_id: str, tpm: int) -> str:
    """Counter name of a key's tokens window."""
    return per_minute(tpm).key_for(NAMESPACE, TOKENS, key_id)


def failures_key(policy: FailurePolicy, client_ip: str) -> str:
    """Counter name of an IP's failed key checks."""
    return per_window(policy.limit, policy.window).key_for(NAMESPACE, AUTH_FAILURES, client_ip)


def format_reset(seconds: float) -> str:
    """OpenAI's duration format for ``x-ratelimit-reset-*``: ``250ms``, ``1s``, ``6m0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, secs = divmod(math.ceil(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _trio(kind: bytes, window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit-" + kind, str(window.limit).encode()),
        (b"x-ratelimit-remaining-" + kind, str(window.remaining).encode()),
        (b"x-ratelimit-reset-" + kind, format_reset(window.reset).encode()),
    ]


def openai_headers(admission: Admission) -> list[tuple[bytes, bytes]]:
    """The ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers (ASGI form)."""
    headers: list[tuple[bytes, bytes]] = []
    if admission.requests is not None:
        headers += _trio(b"requests", admission.requests)
    if admission.tokens is not None:
        headers += _trio(b"tokens", admission.tokens)
    return headers
