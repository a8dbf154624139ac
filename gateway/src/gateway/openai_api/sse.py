"""Server-sent events framing (OpenAI style) and the streaming response that carries it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from gateway.errors import GatewayError

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def data_event(payload: Any) -> bytes:
    """One ``data: <json>`` event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def named_event(event: str, payload: Any) -> bytes:
    """One ``event: <name>`` + ``data: <json>`` event (the Responses API's typed events)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(error: GatewayError) -> bytes:
    """The single event sent when a stream fails after it began: the OpenAI error envelope."""
    return data_event(error.body())


def event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    """A ``text/event-stream`` response with the no-cache / no-buffering headers nginx needs."""
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
