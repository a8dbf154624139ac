"""A silence limit for the reads of one stream, at a few attribute writes per read.

``asyncio.timeout()`` around every read schedules and cancels one timer per read (about 5 µs);
a streamed answer makes one read per token. :class:`ReadDeadline` arms a single timer instead
and only notes when each read starts: when the timer fires during a read that is not over its
limit yet, it re-arms itself for that read's own deadline. The outcome is the same as a fresh
timeout per read: a read that waits longer than ``seconds`` raises :class:`TimeoutError` (its
task is cancelled and the cancellation turned into the timeout, as ``asyncio.timeout`` does).
Time spent between reads (the consumer handling a chunk) never counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")


class ReadDeadline:
    """Limits each read made through :meth:`read` to ``seconds``; use it as a ``with`` block."""

    __slots__ = ("_expired", "_handle", "_loop", "_seconds", "_since", "_task")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the read in progress started (None: no read)
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    @property
    def seconds(self) -> float:
        """The limit of each read, in seconds."""
        return self._seconds

    def __enter__(self) -> Self:
        """Start using the deadline (the timer is armed by the first read)."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disarm the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    async def read(self, pending: Awaitable[T]) -> T:
        """Await ``pending``; raise :class:`TimeoutError` if it takes longer than ``seconds``."""
        self._task = asyncio.current_task()
        self._since = started = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(started + self._seconds, self._check)
        try:
            return await pending
        except asyncio.CancelledError:
            if self._expired and self._task is not None:
                self._expired = False
                if self._task.uncancel() == 0:  # nobody else cancelled the task: a timeout
                    raise TimeoutError from None
            raise
        finally:
            self._since = None

    def _check(self) -> None:
        """Timer callback: cancel the read in progress if it is overdue, else re-arm for it."""
        self._handle = None
        if self._since is None or self._task is None:
            return  # no read in progress: the next read arms the timer again
        due = self._since + self._seconds
        if self._loop.time() >= due:
            self._expired = True
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(due, self._check)
