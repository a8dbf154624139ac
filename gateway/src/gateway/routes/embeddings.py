"""``POST /v1/embeddings``."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import get_context, get_ollama, get_settings
from gateway.openai_api.embeddings import EmbeddingsRequest, EmbeddingsService
from gateway.routes.json_body import StrictJSONRoute
from gateway.upstream.cancellation import until_disconnect

router = APIRouter(tags=["embeddings"], route_class=StrictJSONRoute)


@router.post("/v1/embeddings")
async def create_embeddings(body: EmbeddingsRequest, request: Request) -> Response:
    """Embed a string or a list of strings (float or base64 vectors, usage from Ollama)."""
    ctx = get_context(request)
    service = EmbeddingsService(get_settings(request), get_ollama(request), ctx)
    result = await until_disconnect(request, ctx, service.create(body))
    return Response(orjson.dumps(result), media_type="application/json")
