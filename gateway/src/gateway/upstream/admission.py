"""Admission control in front of Ollama: at most ``GATEWAY_OLLAMA_PARALLEL`` generations at once,
every other one in a bounded queue that is fair across API keys.

Real Ollama runs ``OLLAMA_NUM_PARALLEL`` generations of a loaded model and queues every other
request without limit, without a word: on a busy day each user waits until a timeout. The gateway
admits as many generations as Ollama runs and keeps the others in its own queue, where it can
bound the length (``GATEWAY_QUEUE_MAX``) and the wait (``GATEWAY_QUEUE_TIMEOUT``) and answer
honestly: 503 ``server_overloaded`` with a ``Retry-After`` estimated from the queue.

Slots and queue places live in a :class:`SlotStore` — in memory for one worker
(:class:`MemorySlots`), in Redis for several workers and replicas
(:class:`gateway.upstream.admission_redis.RedisSlots`) — as leases that expire unless renewed,
so the places of a worker that died free up after ``GATEWAY_ADMISSION_LEASE_SECONDS``.

Fairness: each worker keeps its waiters in one queue per key and hands the slots it wins to the
keys in turn (round robin), so a key with 50 waiting requests does not delay a key with one
behind all of them. A request that arrives while nobody waits anywhere takes a free slot at
once; otherwise it queues. A worker with waiters asks the store for a slot every
:data:`POLL_SECONDS`, and at once when one of its own slots frees.

When the store is unreachable, admission fails open (the request goes to Ollama, which queues it
itself) and says so in the log: an outage of Redis must not stop the service.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from time import monotonic
from typing import Any, Protocol

from gateway.errors import ServerOverloaded
from gateway.observability import metrics
from gateway.settings import Settings

log = logging.getLogger("gateway.admission")

POLL_SECONDS = 0.05
# Weight of the newest generation in the running average of how long one holds a slot.
HOLD_SMOOTHING = 0.2
MAX_RETRY_AFTER = 300


class SlotUnavailable(Exception):
    """The slot store could not be reached (admission then fails open)."""


class SlotStore(Protocol):
    """Where the slots and queue places of one backend are counted."""

    async def admit(self, lease: str, *, place: str | None) -> bool:
        """Take a slot for ``lease`` if one is free.

        A newcomer (``place`` None) gets one only while nobody is queued; a queued request
        (``place`` its queue place) gets one whenever a slot is free, and leaves the queue.
        """

    async def enqueue(self, place: str) -> bool:
        """Join the queue, unless it is full."""

    async def leave(self, place: str) -> None:
        """Leave the queue without a slot."""

    async def release(self, lease: str) -> None:
        """Give a slot back."""

    async def renew(self, leases: Collection[str], places: Collection[str]) -> None:
        """Extend the lifetime of slots and queue places still in use."""

    async def counts(self) -> tuple[int, int]:
        """(generations admitted, requests queued) right now."""

    async def aclose(self) -> None:
        """Release the store's connections."""


class MemorySlots:
    """Slots and queue places counted in this process (one gateway worker)."""

    def __init__(self, capacity: int, queue_max: int) -> None:
        self.capacity = capacity
        self.queue_max = queue_max
        self.leases: set[str] = set()
        self.places: set[str] = set()

    async def admit(self, lease: str, *, place: str | None) -> bool:
        """Take a slot if one is free (a newcomer only while nobody is queued)."""
        if place is None and self.places:
            return False
        if len(self.leases) >= self.capacity:
            return False
        self.leases.add(lease)
        if place is not None:
            self.places.discard(place)
        return True

    async def enqueue(self, place: str) -> bool:
        """Join the queue unless it holds ``queue_max`` places."""
        if len(self.places) >= self.queue_max:
            return False
        self.places.add(place)
        return True

    async def leave(self, place: str) -> None:
        """Leave the queue."""
        self.places.discard(place)

    async def release(self, lease: str) -> None:
        """Give a slot back."""
        self.leases.discard(lease)

    async def renew(self, leases: Collection[str], places: Collection[str]) -> None:
        """Nothing to renew: the places live and die with this process."""

    async def counts(self) -> tuple[int, int]:
        """(admitted, queued)."""
        return len(self.leases), len(self.places)

    async def aclose(self) -> None:
        """Nothing to close."""


@dataclass(eq=False)
class _Waiter:
    """One queued request: its key, its place in the store's queue, and its grant."""

    key: str
    place: str
    granted: asyncio.Future[str]


class Admission:
    """The generation slots of one Ollama backend, and the fair queue in front of them."""

    def __init__(
        self,
        settings: Settings,
        store: SlotStore,
        *,
        backend: str,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.settings = settings
        self.capacity = settings.ollama_parallel
        self.store = store
        self.backend = backend
        self.clock = clock
        self._queues: dict[str, deque[_Waiter]] = {}
        self._held: set[str] = set()
        self._freed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._hold_seconds: float | None = None
        self._in_flight = metrics.GENERATIONS_IN_FLIGHT.labels(backend)

    @property
    def waiting(self) -> int:
        """Requests of this worker waiting for a slot."""
        return sum(len(queue) for queue in self._queues.values())

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[float]:
        """Hold one generation slot for the block; yields the seconds spent queued.

        Raises :class:`ServerOverloaded` when the queue is full or the wait would pass
        ``GATEWAY_QUEUE_TIMEOUT``. A cancelled waiter (the client left) leaves the queue at once.
        """
        arrived = self.clock()
        lease = await self._acquire(key, arrived)
        admitted = self.clock()
        waited = admitted - arrived
        metrics.QUEUE_WAIT.observe(waited)
        self._held.add(lease)
        self._in_flight.inc()
        self._ensure_renewer()
        try:
            yield waited
        finally:
            self._in_flight.dec()
            self._held.discard(lease)
            self._note_hold(self.clock() - admitted)
            # Not awaited here: the block may be ending in a cancelled task (a client that left).
            self._spawn(self._release(lease))

    async def _acquire(self, key: str, arrived: float) -> str:
        lease = secrets.token_hex(8)
        if not self._queues and await self._try(self.store.admit(lease, place=None), True):
            return lease
        waiter = _Waiter(key, secrets.token_hex(8), asyncio.get_running_loop().create_future())
        if not await self._try(self.store.enqueue(waiter.place), True):
            raise await self._overloaded("queue_full", arrived)
        self._queues.setdefault(key, deque()).append(waiter)
        metrics.QUEUE_DEPTH.inc()
        self._ensure_dispatcher()
        self._ensure_renewer()
        try:
            async with asyncio.timeout(self.settings.queue_timeout):
                return await asyncio.shield(waiter.granted)
        except BaseException as exc:  # timed out, or cancelled because the client left
            self._abandon(waiter)
            if isinstance(exc, TimeoutError):
                raise await self._overloaded("queue_timeout", arrived) from None
            raise

    def _abandon(self, waiter: _Waiter) -> None:
        """Take ``waiter`` out of the queue; a grant that came too late is given back."""
        queue = self._queues.get(waiter.key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            metrics.QUEUE_DEPTH.dec()
            if not queue:
                del self._queues[waiter.key]
            self._spawn(self._try(self.store.leave(waiter.place), None))
        if not waiter.granted.done():
            waiter.granted.cancel()  # a slot the dispatcher wins for it later is given back
        elif not waiter.granted.cancelled():
            self._spawn(self._release(waiter.granted.result()))

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="admission-dispatch")

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="admission-renew")

    async def _dispatch(self) -> None:
        """Hand slots to this worker's waiters, one key after the other, while any wait."""
        while self._queues:
            key, queue = next(iter(self._queues.items()))
            waiter = queue[0]
            lease = secrets.token_hex(8)
            if await self._try(self.store.admit(lease, place=waiter.place), True):
                queue.popleft()
                metrics.QUEUE_DEPTH.dec()
                del self._queues[key]
                if queue:  # the key goes to the back of the rotation
                    self._queues[key] = queue
                if waiter.granted.done():  # it timed out or left meanwhile
                    self._spawn(self._release(lease))
                else:
                    waiter.granted.set_result(lease)
                continue
            self._freed.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._freed.wait()

    async def _renew(self) -> None:
        """Keep this worker's slots and places alive while it has any."""
        period = self.settings.admission_lease_seconds / 3
        while self._held or self._queues:
            await asyncio.sleep(period)
            places = [w.place for queue in self._queues.values() for w in queue]
            await self._try(self.store.renew(list(self._held), places), None)

    async def _release(self, lease: str) -> None:
        await self._try(self.store.release(lease), None)
        self._freed.set()

    async def _try(self, call: Coroutine[Any, Any, Any], fallback: Any) -> Any:
        """Run a store call; when the store is down, log it and answer ``fallback``."""
        try:
            return await call
        except SlotUnavailable as exc:
            log.warning(
                "admission store unreachable: admitting without counting (fail open)",
                extra={"error": str(exc)},
            )
            return fallback

    def _spawn(self, call: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(call)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _note_hold(self, seconds: float) -> None:
        previous = self._hold_seconds
        self._hold_seconds = (
            seconds if previous is None else previous + HOLD_SMOOTHING * (seconds - previous)
        )

    def retry_after(self, queued: int) -> int:
        """Seconds until a slot is likely free: the queue ahead, divided over the slots."""
        if self._hold_seconds is None:
            return self.settings.retry_after_seconds
        rounds = (queued + 1) / max(1, self.capacity)
        return min(MAX_RETRY_AFTER, max(1, math.ceil(rounds * self._hold_seconds)))

    async def _overloaded(self, reason: str, arrived: float) -> ServerOverloaded:
        metrics.OVERLOAD_REJECTIONS.labels(reason).inc()
        admitted, queued = await self._try(self.store.counts(), (self.capacity, self.waiting))
        retry = self.retry_after(queued)
        busy = f"all {self.capacity} generation slots of Ollama are busy"
        if reason == "queue_full":
            message = (
                f"The server is at capacity: {busy} and the queue is full ({queued} requests "
                f"waiting, GATEWAY_QUEUE_MAX={self.settings.queue_max})."
            )
        else:
            message = (
                f"The server is at capacity: your request waited {self.clock() - arrived:.0f} s "
                f"(GATEWAY_QUEUE_TIMEOUT) while {busy} ({queued} requests waiting)."
            )
        log.info("overloaded", extra={"reason": reason, "admitted": admitted, "queued": queued})
        return ServerOverloaded(f"{message} Retry in {retry} s.", retry_after=retry)

    async def status(self) -> dict[str, Any]:
        """What ``/health/ready`` shows of the queue."""
        admitted, queued = await self._try(self.store.counts(), (len(self._held), self.waiting))
        return {
            "capacity": self.capacity,
            "in_flight": admitted,
            "queued": queued,
            "queue_max": self.settings.queue_max,
        }

    async def aclose(self) -> None:
        """Stop the background tasks and close the store."""
        for task in (self._dispatcher, self._renewer, *self._background):
            if task is not None:
                task.cancel()
        await self.store.aclose()
