"""One Ollama server as the gateway sees it: its address, connection pool, generation slots
(admission control) and health (passive ejection with back-off).

Health follows the routers surveyed in ``scale-out.md``: a refused connection ejects a backend at
once, three consecutive 5xx answers eject it, and each ejection lasts twice as long as the
previous one (``GATEWAY_BACKEND_EJECTION_SECONDS`` doubling up to
``GATEWAY_BACKEND_EJECTION_MAX_SECONDS``). An ejected backend comes back after the back-off once
a probe of it succeeds. Being busy (503 "server busy", a full queue), a 429 or a client that left
never counts against a backend. The state is per gateway worker: each worker notices a dead
backend on its own first attempt, which costs a refused connection and a retry, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic

import httpx

from gateway.observability import backend_metrics
from gateway.settings import RATELIMIT_SCHEMES, Settings
from gateway.upstream.admission import Admission, MemorySlots
from gateway.upstream.admission_redis import RedisSlots
from gateway.upstream.pool import ConnectionStack

FAILURES_TO_EJECT = 3
"""Consecutive 5xx answers (or broken streams) after which a backend is ejected."""
BUSY_SECONDS = 1.0
"""How long a backend that answered 503 "server busy" ranks behind the others."""


def backend_label(url: str) -> str:
    """``host:port`` of ``url``: the backend's name in metrics, logs and ``/health/ready``.

    Never the whole URL, which may carry a password.
    """
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.host}:{port}"


def upstream_timeout(settings: Settings) -> httpx.Timeout:
    """Timeouts of every call to Ollama; reads are bounded per read by the callers."""
    return httpx.Timeout(
        connect=settings.connect_timeout,
        read=None,  # first-byte and between-chunk limits are enforced per read
        write=settings.connect_timeout,
        pool=settings.connect_timeout,
    )


def admission_for(settings: Settings, url: str) -> Admission | None:
    """The admission control of the backend at ``url`` (``None`` when ``GATEWAY_OLLAMA_PARALLEL``
    is 0): in Redis when the rate limits are (shared by every worker), else in this worker."""
    if not settings.ollama_parallel:
        return None
    storage = settings.ratelimit_storage
    if storage.startswith(RATELIMIT_SCHEMES[1:]):
        store: RedisSlots | MemorySlots = RedisSlots(
            storage,
            backend=url,
            capacity=settings.ollama_parallel,
            queue_max=settings.queue_max,
            lease_seconds=settings.admission_lease_seconds,
            timeout=settings.ratelimit_timeout,
        )
    else:
        store = MemorySlots(settings.ollama_parallel, settings.queue_max)
    return Admission(settings, store, backend=url)


class Backend:
    """One Ollama server: connection pool, admission slots, generations in flight, health."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.url = url
        self.name = backend_label(url)
        self.settings = settings
        self.clock = clock
        self.transport = transport or ConnectionStack(
            max_connections=settings.upstream_max_connections
        )
        self.http = httpx.AsyncClient(
            base_url=url, transport=self.transport, timeout=upstream_timeout(settings)
        )
        self.admission = admission_for(settings, url)
        self.in_flight = 0
        self.consecutive_failures = 0
        self.ejections = 0
        self.ejected_until: float | None = None
        self.busy_until = 0.0
        self.admitted_at = clock()
        self.loaded: frozenset[str] | None = None  # models in /api/ps; None: not known yet
        self.loaded_at: float | None = None

    def __repr__(self) -> str:
        return f"Backend({self.name})"

    def __str__(self) -> str:
        return self.name

    @property
    def ejected(self) -> bool:
        """True while the backend is left out of the picks."""
        return self.ejected_until is not None

    def started(self) -> None:
        """A generation was sent to this backend."""
        self.in_flight += 1
        backend_metrics.IN_FLIGHT.labels(self.name).inc()

    def finished(self) -> None:
        """A generation on this backend ended (however it ended); never below zero."""
        if self.in_flight > 0:
            self.in_flight -= 1
            backend_metrics.IN_FLIGHT.labels(self.name).dec()

    def succeeded(self) -> None:
        """The backend answered (a status below 500): its failure streak ends.

        Its ejection count is forgotten once it stayed in for the longest back-off.
        """
        self.consecutive_failures = 0
        if self.clock() - self.admitted_at >= self.settings.backend_ejection_max_seconds:
            self.ejections = 0

    def failed(self, reason: str, *, at_once: bool, may_eject: bool) -> None:
        """The backend failed (``reason``: refused, 5xx, broken stream): count it, maybe eject.

        ``at_once`` ejects on this failure (a refused connection); otherwise the third in a row
        does. ``may_eject`` is False when it is the last backend still in: it stays.
        """
        backend_metrics.FAILURES.labels(self.name, reason).inc()
        self.consecutive_failures += 1
        if may_eject and (at_once or self.consecutive_failures >= FAILURES_TO_EJECT):
            self.eject(reason)

    def busy(self) -> None:
        """The backend answered 503 "server busy": rank it last for a moment (not a failure)."""
        self.busy_until = self.clock() + BUSY_SECONDS

    @property
    def is_busy(self) -> bool:
        """True within :data:`BUSY_SECONDS` of a "server busy" answer."""
        return self.clock() < self.busy_until

    def eject(self, reason: str) -> None:
        """Leave the backend out for the next back-off (base doubling per ejection, capped)."""
        self.ejections += 1
        base = self.settings.backend_ejection_seconds
        backoff = min(base * 2 ** (self.ejections - 1), self.settings.backend_ejection_max_seconds)
        self.ejected_until = self.clock() + backoff
        self.consecutive_failures = 0
        backend_metrics.EJECTIONS.labels(self.name, reason).inc()
        backend_metrics.EJECTED.labels(self.name).set(1)

    def due_for_probe(self) -> bool:
        """True when the backend is ejected and its back-off is over."""
        return self.ejected_until is not None and self.clock() >= self.ejected_until

    def readmit(self) -> None:
        """A probe succeeded: the backend takes traffic again."""
        self.ejected_until = None
        self.consecutive_failures = 0
        self.admitted_at = self.clock()
        backend_metrics.EJECTED.labels(self.name).set(0)

    def has_loaded(self, model: str) -> bool:
        """True when the latest ``/api/ps`` listed ``model`` as loaded on this backend."""
        return self.loaded is not None and model in self.loaded

    def status(self) -> dict[str, object]:
        """What ``/health/ready`` shows of this backend (no URL: it may carry a password)."""
        return {
            "name": self.name,
            "status": "ejected" if self.ejected else "ok",
            "in_flight": self.in_flight,
            "consecutive_failures": self.consecutive_failures,
            "ejections": self.ejections,
            "loaded": sorted(self.loaded) if self.loaded is not None else None,
        }

    async def aclose(self) -> None:
        """Close the admission store and the connection pool."""
        if self.admission is not None:
            await self.admission.aclose()
        await self.http.aclose()
