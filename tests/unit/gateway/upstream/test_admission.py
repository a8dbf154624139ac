"""Admission control in one process: capacity, the fair queue, its bounds, departures, release.

The clock of the queue is real but no test depends on the machine's speed: slots are held until
the test releases them, and every wait is for an event with a generous deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from gateway.errors import ServerOverloaded
from gateway.settings import Settings
from gateway.upstream.admission import Admission, MemorySlots

DEADLINE = 30.0


def admission(capacity: int = 1, **overrides: Any) -> Admission:
    """An admission controller over in-memory slots."""
    settings = Settings(ollama_parallel=capacity, **overrides)
    return Admission(settings, MemorySlots(capacity, settings.queue_max), backend="test")


def slots(gate: Admission) -> MemorySlots:
    """The in-memory store behind ``gate``."""
    return cast(MemorySlots, gate.store)


class Holder:
    """A request that takes a slot and keeps it until told to finish."""

    def __init__(self, gate: Admission, key: str, log: list[str]) -> None:
        self.gate, self.key, self.log = gate, key, log
        self.admitted = asyncio.Event()
        self.finish = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> float:
        async with self.gate.slot(self.key) as waited:
            self.log.append(self.key)
            self.admitted.set()
            await self.finish.wait()
            return waited


def running(holder: Holder) -> bool:
    """Admitted and not told to finish yet."""
    return holder.admitted.is_set() and not holder.finish.is_set()


async def until(condition: Any) -> None:
    """Wait until ``condition()`` holds (a generous deadline; never a speed assertion)."""
    async with asyncio.timeout(DEADLINE):
        while not condition():  # noqa: ASYNC110 - polls state that other tasks change
            await asyncio.sleep(0.005)


@asynccontextmanager
async def closing(gate: Admission) -> AsyncIterator[Admission]:
    try:
        yield gate
    finally:
        await gate.aclose()


async def test_no_more_than_capacity_hold_a_slot_and_the_others_follow() -> None:
    async with closing(admission(capacity=2)) as gate:
        log: list[str] = []
        holders = [Holder(gate, f"k{i}", log) for i in range(5)]
        await until(lambda: len(log) == 2)
        await asyncio.sleep(0.1)  # nobody else gets in while both slots are held
        assert len(log) == 2
        for step in range(3):
            next(h for h in holders if running(h)).finish.set()
            await until(lambda step=step: len(log) == 3 + step)
        for holder in holders:
            holder.finish.set()
        await asyncio.gather(*(h.task for h in holders))
        assert await gate.store.counts() == (0, 0)


async def test_a_key_with_one_request_is_not_queued_behind_a_flooding_key() -> None:
    async with closing(admission(capacity=1)) as gate:
        log: list[str] = []
        first = Holder(gate, "flood", log)
        await first.admitted.wait()
        flood = [Holder(gate, "flood", log) for _ in range(20)]
        await until(lambda: gate.waiting == 20)
        polite = Holder(gate, "polite", log)
        await until(lambda: gate.waiting == 21)
        first.finish.set()
        # Serve two more: the rotation alternates keys, so the single request comes at once.
        for _ in range(2):
            await until(lambda: any(running(h) for h in [polite, *flood]))
            current = next(h for h in [polite, *flood] if running(h))
            current.finish.set()
            await current.task
        assert "polite" in log[:3], log
        for holder in flood:
            holder.finish.set()
        await asyncio.gather(*(h.task for h in flood))


async def test_a_full_queue_is_a_503_server_overloaded_with_retry_after() -> None:
    async with closing(admission(capacity=1, queue_max=2)) as gate:
        log: list[str] = []
        holders = [Holder(gate, "a", log) for _ in range(3)]
        await until(lambda: len(log) == 1 and gate.waiting == 2)
        with pytest.raises(ServerOverloaded) as refused:
            async with gate.slot("b"):
                pass
        error = refused.value
        assert (error.status, error.code) == (503, "server_overloaded")
        assert int(error.headers["Retry-After"]) >= 1
        assert "queue is full" in error.message
        assert "GATEWAY_QUEUE_MAX=2" in error.message
        for holder in holders:
            holder.finish.set()
        await asyncio.gather(*(h.task for h in holders))


async def test_waiting_longer_than_the_queue_timeout_is_a_503_and_frees_the_place() -> None:
    async with closing(admission(capacity=1, queue_timeout=0.2)) as gate:
        log: list[str] = []
        holder = Holder(gate, "a", log)
        await holder.admitted.wait()
        with pytest.raises(ServerOverloaded) as refused:
            async with gate.slot("b"):
                pass
        assert "GATEWAY_QUEUE_TIMEOUT" in refused.value.message
        assert gate.waiting == 0
        await until(lambda: not slots(gate).places)
        holder.finish.set()
        await holder.task


async def test_a_waiter_that_is_cancelled_leaves_the_queue_and_never_holds_a_slot() -> None:
    async with closing(admission(capacity=1)) as gate:
        log: list[str] = []
        holder = Holder(gate, "a", log)
        await holder.admitted.wait()
        leaving = Holder(gate, "b", log)
        await until(lambda: gate.waiting == 1)
        leaving.task.cancel()  # the client went away while queued
        with pytest.raises(asyncio.CancelledError):
            await leaving.task
        assert gate.waiting == 0
        holder.finish.set()
        await holder.task
        await until(lambda: not slots(gate).leases and not slots(gate).places)
        assert log == ["a"]
        # The slot is free for the next request.
        async with asyncio.timeout(DEADLINE), gate.slot("c") as waited:
            assert waited >= 0


async def test_the_slot_is_released_when_the_block_raises() -> None:
    async with closing(admission(capacity=1)) as gate:
        with pytest.raises(RuntimeError):
            async with gate.slot("a"):
                raise RuntimeError("generation failed")
        async with asyncio.timeout(DEADLINE), gate.slot("a"):
            pass


async def test_status_reports_capacity_in_flight_and_queue() -> None:
    async with closing(admission(capacity=1, queue_max=7)) as gate:
        log: list[str] = []
        holders = [Holder(gate, "a", log) for _ in range(3)]
        await until(lambda: gate.waiting == 2)
        assert await gate.status() == {"capacity": 1, "in_flight": 1, "queued": 2, "queue_max": 7}
        for holder in holders:
            holder.finish.set()
        await asyncio.gather(*(h.task for h in holders))
