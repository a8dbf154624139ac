"""The logic of ``/v1/chat/completions``: resolve the model, translate, run, answer or stream.

:class:`GenerationService` holds what chat and text completions share (model resolution, the
request context, whole answer vs stream); :class:`ChatService` fills in the chat specifics.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Generic, TypeVar

from starlette.requests import Request

from gateway.access.rights import authorize_model
from gateway.context import RequestContext
from gateway.openai_api.context_window import check_context
from gateway.openai_api.generation import ChunkRenderer, Generation, Output, Piece
from gateway.openai_api.protocol.chat import ChatCompletionRequest, GenerationRequest
from gateway.openai_api.tool_demand import ToolDemand
from gateway.openai_api.translate.chat import (
    ChatChunks,
    chat_body,
    chat_completion,
    new_id,
    read_chat,
    tool_demand,
)
from gateway.settings import Settings
from gateway.upstream.client import OllamaClient

Reply = dict[str, Any] | AsyncIterator[bytes]
"""A whole answer (JSON object) or the SSE events of a streamed one."""

RequestT = TypeVar("RequestT", bound=GenerationRequest)


class GenerationService(ABC, Generic[RequestT]):
    """Serves one OpenAI generation endpoint from one Ollama generation endpoint."""

    path: ClassVar[str]
    id_prefix: ClassVar[str]
    prompt_param: ClassVar[str]  # the request field holding the prompt (for errors)

    def __init__(
        self, settings: Settings, ollama: OllamaClient, ctx: RequestContext, http: Request
    ) -> None:
        self.settings = settings
        self.ollama = ollama
        self.ctx = ctx
        self.http = http

    @abstractmethod
    def body(self, request: RequestT, model: str) -> dict[str, Any]:
        """The Ollama request body (``model`` is the resolved Ollama name)."""

    def demand(self, request: RequestT) -> ToolDemand | None:
        """What ``tool_choice`` asks of the answer (None: the endpoint has no tools)."""
        return None

    @abstractmethod
    def read(self, chunk: dict[str, Any]) -> Piece:
        """Content, thinking and tool calls of one Ollama object."""

    @abstractmethod
    def renderer(self, model: str) -> ChunkRenderer:
        """The chunk builder of one stream answering as ``model``."""

    @abstractmethod
    def whole(
        self, output: Output, *, completion_id: str, created: int, model: str
    ) -> dict[str, Any]:
        """The non-streamed answer object."""

    async def create(self, request: RequestT) -> Reply:
        """Answer ``request``: a JSON object, or SSE events when it asked to stream.

        Raises :class:`gateway.errors.GatewayError` for failures before the answer starts.
        """
        public_name = request.model or self.settings.default_model
        model = self.settings.resolve_model(request.model)
        authorize_model(self.ctx, model)
        self.ctx.model = model
        self.ctx.stream = request.stream
        body = self.body(request, model)
        check_context(body, self.settings.context_length, self.ctx, self.prompt_param)
        generation = Generation(
            self.ollama,
            self.ctx,
            self.http,
            self.path,
            body,
            self.read,
            stops=request.stop or (),
            demand=self.demand(request),
        )
        if request.stream:
            renderer = self.renderer(public_name)
            return await generation.stream(renderer, include_usage=request.include_usage)
        output = await generation.collect()
        return self.whole(
            output,
            completion_id=new_id(self.id_prefix),
            created=int(time.time()),
            model=public_name,
        )


class ChatService(GenerationService[ChatCompletionRequest]):
    """``/v1/chat/completions`` over Ollama's ``/api/chat``."""

    path = "/api/chat"
    id_prefix = "chatcmpl-"
    prompt_param = "messages"

    def body(self, request: ChatCompletionRequest, model: str) -> dict[str, Any]:
        """The ``/api/chat`` body."""
        return chat_body(request, model)

    def demand(self, request: ChatCompletionRequest) -> ToolDemand:
        """``tool_choice`` of the chat request."""
        return tool_demand(request)

    def read(self, chunk: dict[str, Any]) -> Piece:
        """Reads ``message.content`` / ``thinking`` / ``tool_calls``."""
        return read_chat(chunk)

    def renderer(self, model: str) -> ChunkRenderer:
        """``chat.completion.chunk`` builder."""
        return ChatChunks(model)

    def whole(
        self, output: Output, *, completion_id: str, created: int, model: str
    ) -> dict[str, Any]:
        """The ``chat.completion`` object."""
        return chat_completion(output, completion_id=completion_id, created=created, model=model)
