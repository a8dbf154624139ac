"""Mutable server state: current settings, model store, request/cancellation logs, slots."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from fake_ollama.asgi import Exchange
from fake_ollama.catalog import ModelStore
from fake_ollama.config import Settings


class State:
    """Everything the handlers share; one instance per app."""

    def __init__(self, settings: Settings) -> None:
        self.initial = settings
        self.settings = settings
        self.store = ModelStore(settings.models)
        self.requests: deque[dict[str, Any]] = deque(maxlen=settings.history)
        self.cancelled: deque[dict[str, Any]] = deque(maxlen=settings.history)
        self.pull_failures_left = settings.pull_failures
        self._slots = _semaphore(settings.num_parallel)
        self._seq = 0
        self._seen: dict[bytes, None] = {}  # bodies already failed by a ``*-once`` fault
        self.generations = GenerationCount()

    def apply(self, new: Settings) -> None:
        """Switch to ``new`` settings, rebuilding what depends on the changed knobs."""
        old, self.settings = self.settings, new
        if new.models != old.models:
            self.store.replace_all(new.models)
        if new.pull_failures != old.pull_failures:
            self.pull_failures_left = new.pull_failures
        if new.num_parallel != old.num_parallel:
            self._slots = _semaphore(new.num_parallel)
        if new.history != old.history:
            self.requests = deque(self.requests, maxlen=new.history)
            self.cancelled = deque(self.cancelled, maxlen=new.history)

    def reset(self) -> None:
        """Back to the start-up settings and models; logs and counters cleared."""
        self.settings = self.initial
        self.store.replace_all(self.initial.models)
        self.requests = deque(maxlen=self.initial.history)
        self.cancelled = deque(maxlen=self.initial.history)
        self.pull_failures_left = self.initial.pull_failures
        self._slots = _semaphore(self.initial.num_parallel)
        self.generations = GenerationCount()
        self._seen = {}

    def first_sight(self, ex: Exchange) -> bool:
        """True the first time this path and body arrive (since the start or the last reset).

        What a ``*-once`` fault keys on: a client that retries sends the same body again. The
        memory keeps the last ``history`` bodies.
        """
        key = hashlib.sha256(ex.path.encode() + b"\0" + ex.body).digest()
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > max(self.settings.history, 1):
            del self._seen[next(iter(self._seen))]
        return True

    def slot(self) -> Slot:
        """A generation slot (``num_parallel``) to hold with ``async with``; free when unlimited."""
        return Slot(self._slots)

    @property
    def limited(self) -> bool:
        """True when ``num_parallel`` limits concurrency (requests may queue)."""
        return self._slots is not None

    def record_request(self, ex: Exchange) -> dict[str, Any]:
        """Append a request to the ring buffer; the returned entry is completed later."""
        self._seq += 1
        entry: dict[str, Any] = {
            "seq": self._seq,
            "time": time.time(),
            "method": ex.method,
            "path": ex.path,
            "query": ex.query,
            "headers": ex.headers,
            "request_id": ex.headers.get("x-request-id"),
            "body": ex.parsed_body(),
            "status": None,
            "cancelled": False,
        }
        if entry["body"] is None and ex.body:
            entry["body_text"] = ex.body.decode("utf-8", "replace")
        self.requests.append(entry)
        return entry

    def record_cancel(self, ex: Exchange) -> None:
        """Remember a request whose client went away before it completed."""
        self.cancelled.append(
            {
                "time": time.time(),
                "method": ex.method,
                "path": ex.path,
                "model": ex.model,
                "request_id": ex.headers.get("x-request-id"),
                "stage": ex.stage,
                "tokens_emitted": ex.tokens,
                "elapsed_ms": round((time.perf_counter_ns() - ex.started_ns) / 1e6, 3),
            }
        )


class Slot:
    """One of the ``num_parallel`` generation slots, held for an ``async with`` block.

    :meth:`requeue` gives it back and waits for it again behind the requests already waiting,
    as structured output's second pass does (server/routes.go ChatHandler calls the runner's
    ``Completion`` again, which acquires the runner's semaphore again).
    """

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self._semaphore = semaphore
        self._held = False

    async def __aenter__(self) -> Slot:
        """Wait for the slot."""
        await self._take()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Give the slot back (if held: a cancelled wait holds nothing)."""
        self._give()

    async def requeue(self) -> None:
        """Give the slot back, then wait for it again."""
        self._give()
        await self._take()

    async def _take(self) -> None:
        if self._semaphore is not None:
            await self._semaphore.acquire()
            self._held = True

    def _give(self) -> None:
        if self._held and self._semaphore is not None:
            self._semaphore.release()
            self._held = False


class GenerationCount:
    """Generations at the fake right now (queued or running) and the most seen at once.

    What a test of the gateway's admission control reads (``GET /_fake/stats``): the gateway
    must never have more generations at Ollama than Ollama runs at once.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.total = 0

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Count one generation for as long as the block runs."""
        self.in_flight += 1
        self.total += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1


def _semaphore(size: int) -> asyncio.Semaphore | None:
    return asyncio.Semaphore(size) if size > 0 else None
