"""Sending results under faults: pre-stream errors, NDJSON streams, whole JSON bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from fake_ollama.asgi import Exchange
from fake_ollama.faults import (
    MALFORMED_LINE,
    MIDSTREAM,
    QUEUE_FULL,
    RUNNER_CRASH,
    STREAM_FAULTS,
    Fault,
    tool_parse_error,
)
from fake_ollama.state import State


async def pre_stream_fault(ex: Exchange, state: State, fault: Fault | None, stream: bool) -> bool:
    """Answer the faults that strike before any output; True when the request is answered."""
    if fault is Fault.BUSY:
        await ex.send_error(503, QUEUE_FULL)
    elif fault is Fault.HTTP_500:
        await ex.send_error(500, RUNNER_CRASH)
    elif fault is Fault.LEGACY_ERROR and stream:
        ex.start_stream()
        await ex.send_line({"error": RUNNER_CRASH}, last=True)
    elif fault is Fault.LEGACY_ERROR:
        await ex.send_error(500, RUNNER_CRASH)
    elif fault is Fault.HANG:
        ex.watch_disconnect()
        ex.stage = "hang"
        limit = state.settings.hang_seconds
        await asyncio.sleep(limit)
        await ex.send_error(500, f"fake-ollama: hang fault gave up after {limit:g} s")
    else:
        return False
    return True


async def stream_lines(
    ex: Exchange,
    state: State,
    chunks: AsyncIterator[dict[str, Any]],
    final: Callable[[], dict[str, Any]],
    fault: Fault | None,
    late_error: tuple[int, str] | None = None,
) -> None:
    """Stream ``chunks`` then ``final()`` as NDJSON, injecting a stream fault if asked.

    A ``late_error`` (status, message): a tool call Ollama cannot parse (or the
    ``tool-parse-error`` fault), a schema llama-server cannot convert; it replaces the done line
    with Ollama's error: a line when chunks went out, else a JSON body with that status (Ollama's
    ``streamResponse`` checks ``c.Writer.Written()``).
    """
    ex.start_stream()
    after = state.settings.fault_after
    pending = fault in STREAM_FAULTS
    sent = 0
    async for chunk in chunks:
        if pending and sent >= after:
            pending = False
            if await _inject(ex, fault):
                return
        await ex.send_line(chunk)
        sent += 1
    if pending and await _inject(ex, fault):
        return
    if fault is Fault.TOOL_PARSE_ERROR:
        late_error = (500, tool_parse_error(final()))
    if late_error is not None:
        status, message = late_error
        if sent:
            await ex.send_line({"error": message}, last=True)
        else:
            await ex.send_error(status, message)
        return
    await ex.send_line(final(), last=True)


async def _inject(ex: Exchange, fault: Fault | None) -> bool:
    """Apply a stream fault; True when the stream is over."""
    if fault is Fault.DROP:
        await ex.abort()
        return True
    if fault is Fault.MIDSTREAM_ERROR:
        await ex.send_line({"error": MIDSTREAM}, last=True)
        return True
    await ex.send_chunk(MALFORMED_LINE)
    return False


async def deliver_whole(
    ex: Exchange,
    obj: dict[str, Any],
    fault: Fault | None,
    late_error: tuple[int, str] | None = None,
) -> None:
    """Send one JSON object (``stream: false``), applying a stream fault's non-stream form.

    A ``late_error`` (status, message) is sent with its status (``writeChatResponse``): a 500
    for a tool call Ollama cannot parse, llama-server's 400 for a schema it cannot convert.
    """
    if late_error is not None and fault is None:
        await ex.send_error(*late_error)
    elif fault is Fault.DROP:
        await ex.respond_truncated(200, orjson.dumps(obj))
    elif fault is Fault.MALFORMED:
        body = orjson.dumps(obj)
        await ex.respond(200, body[: len(body) // 2])
    elif fault is Fault.MIDSTREAM_ERROR:
        await ex.send_error(500, MIDSTREAM)
    elif fault is Fault.TOOL_PARSE_ERROR:  # writeChatResponse (stream: false): a 500
        await ex.send_error(500, tool_parse_error(obj))
    else:
        await ex.send_json(200, obj)
