"""Legacy text completions both ways: OpenAI ``/v1/completions`` <-> Ollama ``/api/generate``.

The answer text is Ollama's ``response``; the reasoning trace of a thinking model has no place in
a ``text_completion`` and is not returned (its tokens still count in ``usage``).
"""

from __future__ import annotations

import time
from typing import Any

from gateway.openai_api.generation import Output, Piece
from gateway.openai_api.protocol.chat import CompletionRequest
from gateway.openai_api.translate.chat import finish_reason, new_id, ollama_options, usage

TEXT_OBJECT = "text_completion"


def generate_body(request: CompletionRequest, model: str) -> dict[str, Any]:
    """The ``/api/generate`` body for ``request``; ``model`` is the resolved Ollama model name."""
    body: dict[str, Any] = {"model": model, "prompt": request.prompt}
    if request.suffix:  # Ollama ignores an empty suffix; a non-empty one needs "insert"
        body["suffix"] = request.suffix
    if options := ollama_options(request, request.max_tokens):
        body["options"] = options
    return body


def read_generate(chunk: dict[str, Any]) -> Piece:
    """Content, thinking and tool calls of one ``/api/generate`` NDJSON object."""
    return chunk.get("response") or "", chunk.get("thinking") or "", chunk.get("tool_calls") or ()


def _choice(text: str, finish: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}


def text_completion(
    output: Output, *, completion_id: str, created: int, model: str
) -> dict[str, Any]:
    """The non-streamed ``text_completion`` object for a finished generation."""
    return {
        "id": completion_id,
        "object": TEXT_OBJECT,
        "created": created,
        "model": model,
        "choices": [_choice(output.text, finish_reason(output.done_reason, False))],
        "usage": usage(output),
    }


class CompletionChunks:
    """Builds the ``text_completion`` chunks of one stream (shared id and ``created``)."""

    __slots__ = ("completion_id", "created", "model")

    def __init__(self, model: str, completion_id: str | None = None, created: int | None = None):
        self.model = model
        self.completion_id = completion_id or new_id("cmpl-")
        self.created = created if created is not None else int(time.time())

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": TEXT_OBJECT,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def opening(self) -> dict[str, Any] | None:
        """Text completions have no role chunk."""
        return None

    def deltas(self, piece: Piece) -> list[dict[str, Any]]:
        """One chunk per Ollama object that carries answer text."""
        content = piece[0]
        return [self._chunk([_choice(content, None)])] if content else []

    def closing(self, output: Output) -> dict[str, Any]:
        """The finish chunk: empty text and the finish reason."""
        return self._chunk([_choice("", finish_reason(output.done_reason, False))])

    def usage(self, output: Output) -> dict[str, Any]:
        """The usage chunk sent when ``stream_options.include_usage``: ``choices`` is empty."""
        chunk = self._chunk([])
        chunk["usage"] = usage(output)
        return chunk
