"""``POST /v1/responses`` (stateless Responses API; ``stream: true`` gives typed SSE events)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import get_context, get_ollama, get_settings
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.responses_service import ResponsesService
from gateway.openai_api.sse import event_stream
from gateway.routes.json_body import StrictJSONRoute

router = APIRouter(tags=["responses"], route_class=StrictJSONRoute)

DROPPED_TOOLS_HEADER = "X-Gateway-Dropped-Tools"
"""Lists the hosted tool types (``web_search``, ...) left out of the request, comma-separated."""


@router.post("/v1/responses")
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    """Generate a response: one JSON object, or SSE events ending in ``response.completed``."""
    service = ResponsesService(
        get_settings(request), get_ollama(request), get_context(request), request, body
    )
    if body.stream:
        response: Response = event_stream(await service.stream())
    else:
        response = Response(orjson.dumps(await service.create()), media_type="application/json")
    if service.dropped_tools:
        response.headers[DROPPED_TOOLS_HEADER] = ",".join(service.dropped_tools)
    return response
