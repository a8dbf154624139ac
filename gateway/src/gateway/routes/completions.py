"""``POST /v1/completions`` (legacy text completion)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import get_context, get_ollama, get_settings
from gateway.openai_api.completion_service import CompletionService
from gateway.openai_api.protocol.chat import CompletionRequest
from gateway.routes.json_body import StrictJSONRoute
from gateway.routes.replies import reply

router = APIRouter(tags=["openai"], route_class=StrictJSONRoute)


@router.post("/v1/completions")
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    """OpenAI text completion (JSON, or SSE with ``stream: true``) answered by Ollama."""
    # Built here rather than as a sub-dependency: FastAPI solves no second dependency per call.
    service = CompletionService(
        get_settings(request), get_ollama(request), get_context(request), request
    )
    return reply(await service.create(body))
