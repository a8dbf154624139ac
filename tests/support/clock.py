"""A clock for code that takes one (``clock=``): it moves only when the test says so."""

from __future__ import annotations


class ManualClock:
    """A monotonic clock that only the test moves: what expires does so because the test said
    so, never because a busy machine was slow."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current time, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``."""
        self.now += seconds
