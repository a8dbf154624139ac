"""When to retry a failed request, and how long to wait first.

Retried: 429 and 503 (the server says when: `Retry-After`), and failures to reach the server or to
get its answer (connection refused/reset, connect timeout). Never retried: other statuses, read
timeouts (the model may still be generating, so sending again would double the GPU work), and a
stream whose body has begun (the caller never hands such a failure to this module).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

from ._exceptions import APIError, APIStatusError

RETRY_STATUSES = frozenset({429, 503})

_RETRYABLE_TRANSPORT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def is_retryable_transport_error(exc: httpx.TransportError) -> bool:
    """True for failures where re-sending is safe and useful (not read/write timeouts)."""
    return isinstance(exc, _RETRYABLE_TRANSPORT)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `Retry-After` from the server wins over the backoff."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    #: A server asking for a longer wait than this is not waited for: the error is raised at once,
    #: carrying `retry_after`, so the caller can decide (the CLI tells the user how long).
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, error: APIError, *, retryable: bool) -> float | None:
        """Seconds to wait before re-sending after failure number `attempt` (0-based), or None."""
        if not retryable or attempt >= self.max_retries:
            return None
        retry_after = error.retry_after if isinstance(error, APIStatusError) else None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # A little jitter on top, so clients told the same time do not return in lockstep.
            return retry_after * (1.0 + 0.1 * self.rng.random())
        backoff = min(self.max_delay, self.initial_delay * 2.0**attempt)
        return backoff * (0.5 + 0.5 * self.rng.random())

    @staticmethod
    def retryable_status(error: APIStatusError) -> bool:
        """Whether this status is worth a retry at all."""
        return error.status_code in RETRY_STATUSES
