"""An asyncio event loop on a virtual clock, for code whose behaviour depends on timers.

:class:`VirtualTimeLoop` is a real selector event loop whose ``time()`` only moves when nothing
is ready to run: it then jumps straight to the next timer. ``asyncio.sleep(0.3)`` returns at once
in real time, yet after exactly 0.3 virtual seconds, in the same order relative to every other
timer as on an idle machine. A test of timeouts, deadlines or expiry therefore proves the same
thing on a busy machine as on a fast one, and takes no wall-clock time.

For code that only waits on timers and on other tasks of the loop: real I/O still works, but
while a socket is quiet the clock would skip ahead instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _SkippingSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, moves the loop's clock on instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only another thread can wake the loop
            return list(super().select(None))
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps to the next timer whenever the loop would wait."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(selector=_SkippingSelector(self))

    def time(self) -> float:
        """The virtual time (seconds since the loop was made)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self._now += max(seconds, 0.0)


def run_in_virtual_time(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop` and close it."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
