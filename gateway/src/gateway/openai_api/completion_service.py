"""The logic of ``/v1/completions`` (legacy text completion) over Ollama's ``/api/generate``."""

from __future__ import annotations

from typing import Any

from gateway.openai_api.chat_service import GenerationService
from gateway.openai_api.generation import ChunkRenderer, Output, Piece
from gateway.openai_api.protocol.chat import CompletionRequest
from gateway.openai_api.translate.completions import (
    CompletionChunks,
    generate_body,
    read_generate,
    text_completion,
)


class CompletionService(GenerationService[CompletionRequest]):
    """``/v1/completions`` over Ollama's ``/api/generate``."""

    path = "/api/generate"
    id_prefix = "cmpl-"
    prompt_param = "prompt"

    def body(self, request: CompletionRequest, model: str) -> dict[str, Any]:
        """The ``/api/generate`` body."""
        return generate_body(request, model)

    def read(self, chunk: dict[str, Any]) -> Piece:
        """Reads ``response`` / ``thinking`` / ``tool_calls``."""
        return read_generate(chunk)

    def renderer(self, model: str) -> ChunkRenderer:
        """``text_completion`` chunk builder."""
        return CompletionChunks(model)

    def whole(
        self, output: Output, *, completion_id: str, created: int, model: str
    ) -> dict[str, Any]:
        """The ``text_completion`` object."""
        return text_completion(output, completion_id=completion_id, created=created, model=model)
