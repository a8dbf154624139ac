"""``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway.chat_service import ChatService
from gateway.deps import get_context, get_ollama, get_settings
from gateway.protocol import ChatCompletionRequest
from gateway.routes.replies import reply

router = APIRouter(tags=["openai"])


async def chat_service(request: Request) -> ChatService:
    """The chat service for this request (async: no thread-pool hop on the hot path)."""
    return ChatService(get_settings(request), get_ollama(request), get_context(request), request)


@router.post("/v1/chat/completions")
async def create_chat_completion(
    body: ChatCompletionRequest, service: Annotated[ChatService, Depends(chat_service)]
) -> Response:
    """OpenAI chat completion (JSON, or SSE with ``stream: true``) answered by Ollama."""
    return reply(await service.create(body))
