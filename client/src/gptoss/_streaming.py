"""Turning the gateway's server-sent events into typed stream events.

Transport-free: it is fed decoded lines, so the sync and async clients share it line for line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._exceptions import APIConnectionError, APIStreamError, stream_error_from_event
from ._types import ContentDelta, Done, ReasoningDelta, StreamEvent, ToolCall, Usage

DONE_SENTINEL = "[DONE]"


class SSEDecoder:
    """Line-by-line decoder of `text/event-stream`: yields each event's data (other fields, such
    as `event:` names, are not needed for chat and are skipped)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Consume one line (without its newline); a blank line ends an event: return its data."""
        if not line:
            return self.flush()
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        """The data of the event in progress, if any (a stream may end without a blank line)."""
        data, self._data = self._data, []
        return "\n".join(data) if data else None


class _PendingCall:
    """A tool call whose fragments are still arriving."""

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []

    def merge(self, fragment: Mapping[str, Any]) -> None:
        self.id = self.id or str(fragment.get("id") or "")
        function = fragment.get("function")
        if isinstance(function, Mapping):
            self.name = self.name or str(function.get("name") or "")
            self.arguments.append(str(function.get("arguments") or ""))

    def build(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments="".join(self.arguments) or "{}")


class ChatStreamAssembler:
    """Feeds on SSE lines of `/v1/chat/completions` and emits `StreamEvent`s.

    Tool calls arrive in fragments keyed by index; each is emitted once, complete, when its choice
    finishes. `Done` is emitted at `[DONE]`; an `{"error": ...}` event raises `APIStreamError`.
    """

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.finished = False
        self._decoder = SSEDecoder()
        self._calls: dict[int, _PendingCall] = {}
        self._finish_reason: str | None = None

    def feed_line(self, line: str) -> list[StreamEvent]:
        """Consume one line of the response body."""
        data = self._decoder.feed(line)
        return self._handle(data) if data is not None and not self.finished else []

    def close(self) -> list[StreamEvent]:
        """Call when the body ended: flushes a trailing event, raises if `[DONE]` never came."""
        events = [] if self.finished else self._handle(self._decoder.flush())
        if not self.finished:
            raise APIConnectionError(
                "the connection closed before the answer was complete", request_id=self.request_id
            )
        return events

    def _handle(self, data: str | None) -> list[StreamEvent]:
        if data is None:
            return []
        if data.strip() == DONE_SENTINEL:
            self.finished = True
            return [*self._take_calls(), Done(self._finish_reason, self.request_id)]
        try:
            chunk = json.loads(data)
        except ValueError:
            raise APIStreamError(
                f"the server sent an event that is not JSON: {data[:100]!r}",
                request_id=self.request_id,
            ) from None
        if not isinstance(chunk, Mapping):
            return []
        if "error" in chunk:
            raise stream_error_from_event(chunk["error"], self.request_id)
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            if isinstance(choice, Mapping):
                events.extend(self._choice(choice))
        usage = Usage.from_json(chunk.get("usage"))
        if usage is not None:
            events.append(usage)
        return events

    def _choice(self, choice: Mapping[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        delta = choice.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning:
            events.append(ReasoningDelta(str(reasoning)))
        if delta.get("content"):
            events.append(ContentDelta(str(delta["content"])))
        for position, fragment in enumerate(delta.get("tool_calls") or []):
            if isinstance(fragment, Mapping):
                index = fragment.get("index", position)
                self._calls.setdefault(int(index), _PendingCall()).merge(fragment)
        if choice.get("finish_reason"):
            self._finish_reason = str(choice["finish_reason"])
            events.extend(self._take_calls())
        return events

    def _take_calls(self) -> list[StreamEvent]:
        calls: list[StreamEvent] = [self._calls[i].build() for i in sorted(self._calls)]
        self._calls.clear()
        return calls
