"""ReadDeadline: each read is limited, the time between reads is not, other cancellations pass.

The tests run on a virtual clock (:mod:`tests.support.virtual_time`): the timers fire in the
order the delays say, however busy the machine, and no test waits in real time.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.upstream.deadline import ReadDeadline
from tests.support.virtual_time import run_in_virtual_time


def test_a_read_longer_than_the_limit_raises_timeout_error() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with ReadDeadline(0.05) as deadline, pytest.raises(TimeoutError):
            await deadline.read(asyncio.sleep(5))
        return loop.time()

    assert run_in_virtual_time(main()) == pytest.approx(0.05)


def test_the_time_between_reads_does_not_count() -> None:
    async def main() -> None:
        with ReadDeadline(0.1) as deadline:
            for _ in range(3):
                assert await deadline.read(asyncio.sleep(0, result="chunk")) == "chunk"
                await asyncio.sleep(0.25)  # the consumer is busy: no read is waiting

    run_in_virtual_time(main())


def test_each_read_gets_the_whole_limit_from_its_own_start() -> None:
    # The timer armed by the first read fires during the second one, which is not overdue.
    async def main() -> None:
        with ReadDeadline(0.5) as deadline:
            await deadline.read(asyncio.sleep(0))
            await asyncio.sleep(0.3)
            assert await deadline.read(asyncio.sleep(0.4, result="late but in time")) == (
                "late but in time"
            )
            with pytest.raises(TimeoutError):  # while its own limit still holds
                await deadline.read(asyncio.sleep(0.6))

    run_in_virtual_time(main())


def test_reads_may_come_from_different_tasks() -> None:
    # A stream's first chunk is read by the handler, the others by the response's task.
    async def main() -> None:
        with ReadDeadline(0.1) as deadline:
            await asyncio.create_task(deadline.read(asyncio.sleep(0)))
            with pytest.raises(TimeoutError):
                await asyncio.create_task(deadline.read(asyncio.sleep(5)))

    run_in_virtual_time(main())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        reading = asyncio.Event()

        async def read_for_long() -> None:
            with ReadDeadline(10) as deadline:
                reading.set()
                await deadline.read(asyncio.sleep(10))

        task = asyncio.create_task(read_for_long())
        await reading.wait()
        await asyncio.sleep(0.05)  # the read is in progress
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_in_virtual_time(main())
