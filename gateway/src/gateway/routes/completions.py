"""``POST /v1/completions`` (legacy text completion)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway.completion_service import CompletionService
from gateway.deps import get_context, get_ollama, get_settings
from gateway.protocol import CompletionRequest
from gateway.routes.replies import reply

router = APIRouter(tags=["openai"])


async def completion_service(request: Request) -> CompletionService:
    """The text-completion service for this request (async: no thread-pool hop)."""
    return CompletionService(
        get_settings(request), get_ollama(request), get_context(request), request
    )


@router.post("/v1/completions")
async def create_completion(
    body: CompletionRequest, service: Annotated[CompletionService, Depends(completion_service)]
) -> Response:
    """OpenAI text completion (JSON, or SSE with ``stream: true``) answered by Ollama."""
    return reply(await service.create(body))
