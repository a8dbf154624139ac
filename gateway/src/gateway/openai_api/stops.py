"""OpenAI ``stop`` sequences, matched by the gateway on the answer text only.

Ollama (0.32.15: llama-server's ``stop``) matches stop strings on the model's raw output, which
for gpt-oss starts with the reasoning: a common stop such as ``"."`` or ``"\\n"`` fires there and
leaves the answer empty. So the gateway never sends ``options.stop``; it looks for the stop
strings in the content channel itself, across chunk boundaries, and ends the generation at the
first match (the stop string is not part of the answer, as with OpenAI).
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Finds the first stop string in a text that arrives in pieces.

    Text that could be the start of a stop string is held back until the next piece shows
    whether it is; everything before it is released at once.
    """

    __slots__ = ("_held", "matched", "stops")

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stop for stop in stops if stop)
        self._held = ""
        self.matched = False

    def feed(self, text: str) -> str:
        """The answer text that can be released after ``text`` arrived ("" once matched)."""
        if self.matched or not text:
            return ""
        buffer = self._held + text
        cut = min((at for stop in self.stops if (at := buffer.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self.matched = True
            self._held = ""
            return buffer[:cut]
        keep = max((_overlap(buffer, stop) for stop in self.stops), default=0)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The text held back, released at the end of the answer (it started no stop string)."""
        held, self._held = self._held, ""
        return "" if self.matched else held


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that is the start of ``stop`` (shorter than it)."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0
