"""ReadDeadline: each read is limited, the time between reads is not, other cancellations pass."""

from __future__ import annotations

import asyncio

import pytest

from gateway.upstream.deadline import ReadDeadline


async def test_a_read_longer_than_the_limit_raises_timeout_error() -> None:
    with ReadDeadline(0.05) as deadline, pytest.raises(TimeoutError):
        await deadline.read(asyncio.sleep(5))


async def test_the_time_between_reads_does_not_count() -> None:
    with ReadDeadline(0.1) as deadline:
        for _ in range(3):
            assert await deadline.read(asyncio.sleep(0, result="chunk")) == "chunk"
            await asyncio.sleep(0.25)  # the consumer is busy: no read is waiting


async def test_each_read_gets_the_whole_limit_from_its_own_start() -> None:
    # The timer armed by the first read fires during the second one, which is not overdue.
    with ReadDeadline(0.5) as deadline:
        await deadline.read(asyncio.sleep(0))
        await asyncio.sleep(0.3)
        assert await deadline.read(asyncio.sleep(0.4, result="late but in time")) == (
            "late but in time"
        )


async def test_reads_may_come_from_different_tasks() -> None:
    # A stream's first chunk is read by the handler, the others by the response's task.
    with ReadDeadline(0.1) as deadline:
        await asyncio.create_task(deadline.read(asyncio.sleep(0)))
        with pytest.raises(TimeoutError):
            await asyncio.create_task(deadline.read(asyncio.sleep(5)))


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def read_for_long() -> None:
        with ReadDeadline(10) as deadline:
            await deadline.read(asyncio.sleep(10))

    task = asyncio.create_task(read_for_long())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
