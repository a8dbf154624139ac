"""Turn a generation service's reply into HTTP: a JSON body or an SSE stream."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from gateway.openai_api.chat_service import Reply
from gateway.openai_api.sse import event_stream


def reply(result: Reply) -> Response:
    """``application/json`` for a whole answer, ``text/event-stream`` for a streamed one."""
    if isinstance(result, dict):
        return Response(orjson.dumps(result), media_type="application/json")
    return event_stream(result)
