"""Showing a streamed answer as it arrives.

On a terminal the answer is rendered as Markdown: finished blocks (paragraphs, lists, code blocks)
are printed for good, and only the block still being written is redrawn, so long answers scroll
normally. Off a terminal (a pipe) the answer text is written raw, as it arrives, and notes such as
reasoning go to `notes` (stderr for `ask`).
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.spinner import Spinner
from rich.text import Text

from .._types import ContentDelta, Done, ReasoningDelta, StreamEvent, ToolCall, Usage

_FENCES = ("```", "~~~")


class MarkdownBlocks:
    """Splits streamed Markdown into finished blocks and an unfinished tail.

    A block is finished at a blank line outside a fenced code block.
    """

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> list[str]:
        """Add text; return the blocks it finished, in order."""
        self.pending += text
        finished: list[str] = []
        in_fence = False
        start = 0
        position = 0
        for line in self.pending.splitlines(keepends=True):
            position += len(line)
            if not line.endswith("\n"):
                break
            if line.lstrip().startswith(_FENCES):
                in_fence = not in_fence
            elif not in_fence and not line.strip():
                block = self.pending[start:position].strip("\n")
                if block:
                    finished.append(block)
                start = position
        self.pending = self.pending[start:]
        return finished


class AnswerView:
    """Shows one streamed answer; use as a context manager around the events, feeding `handle`."""

    def __init__(self, console: Console, notes: Console, *, show_reasoning: bool) -> None:
        self.console = console
        self.fancy = console.is_terminal
        # Live redraws assume nobody else writes to the terminal: share its console when fancy.
        self.notes = console if self.fancy else notes
        self.show_reasoning = show_reasoning
        self.content = ""
        self.reasoning = ""
        self.tool_calls: list[ToolCall] = []
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._blocks = MarkdownBlocks()
        self._reasoning_line = ""
        self._started = time.monotonic()
        self._thinking_seconds: float | None = None
        self._spinner = Spinner("dots", text=Text("thinking…", style="dim"))
        self._live: Live | None = None

    def __enter__(self) -> AnswerView:
        if self.fancy:
            self._live = Live(
                console=self.console,
                get_renderable=self._tail,
                refresh_per_second=10,
                transient=True,
                vertical_overflow="visible",
            )
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end_reasoning()
        if self.fancy:
            pending, self._blocks.pending = self._blocks.pending, ""
            if self._live is not None:
                self._live.stop()
            if pending.strip():
                self.console.print(Markdown(pending))
        elif self.content and not self.content.endswith("\n"):
            self.console.out("")
        if exc_type is None:
            self._print_summary()

    def handle(self, event: StreamEvent) -> None:
        """Show one event."""
        if isinstance(event, ReasoningDelta):
            self._on_reasoning(event.text)
        elif isinstance(event, ContentDelta):
            self._on_content(event.text)
        elif isinstance(event, ToolCall):
            self._end_reasoning()
            self.tool_calls.append(event)
            self.notes.print(Text(f"→ tool call {event.name}({event.arguments})", style="cyan"))
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Done):
            self.finish_reason = event.finish_reason

    def _on_reasoning(self, text: str) -> None:
        self.reasoning += text
        if not self.show_reasoning:
            return
        self._reasoning_line += text
        *lines, self._reasoning_line = self._reasoning_line.split("\n")
        for line in lines:
            self.notes.print(Text(line, style="dim italic"))

    def _end_reasoning(self) -> None:
        if self._thinking_seconds is None:
            self._thinking_seconds = time.monotonic() - self._started
            if self.show_reasoning and self._reasoning_line:
                self.notes.print(Text(self._reasoning_line, style="dim italic"))
            self._reasoning_line = ""

    def _on_content(self, text: str) -> None:
        self._end_reasoning()
        self.content += text
        if not self.fancy:
            self.console.file.write(text)
            self.console.file.flush()
            return
        for block in self._blocks.feed(text):
            self.console.print(Markdown(block))

    def _tail(self) -> RenderableType:
        """What the live area shows: the spinner while thinking, else the unfinished block."""
        if self._thinking_seconds is None:
            if self.show_reasoning:
                return Text(self._reasoning_line, style="dim italic")
            elapsed = time.monotonic() - self._started
            self._spinner.update(text=Text(f"thinking… {elapsed:.0f} s", style="dim"))
            return self._spinner
        pending = self._blocks.pending
        room = max(3, self.console.height - 2)
        lines = pending.splitlines()
        if len(lines) > room:  # too tall to redraw in place: show its end, unrendered
            return Text("\n".join(lines[-room:]))
        return Markdown(pending) if pending.strip() else Text("")

    def summary(self) -> str:
        """The one dim line after the answer: how long it thought, and why it stopped early."""
        parts: list[str] = []
        if self.reasoning and not self.show_reasoning:
            tokens = self.usage.reasoning_tokens if self.usage else None
            seconds = self._thinking_seconds or 0.0
            if tokens is not None:
                unit = "token" if tokens == 1 else "tokens"
                parts.append(f"thought for {tokens} {unit} ({seconds:.1f} s)")
            else:
                parts.append(f"thought for {seconds:.1f} s")
        if self.finish_reason == "length":
            parts.append("cut short: the token limit was reached")
        return " · ".join(parts)

    def _print_summary(self) -> None:
        line = self.summary()
        if line:
            self.notes.print(Text(line, style="dim"))
