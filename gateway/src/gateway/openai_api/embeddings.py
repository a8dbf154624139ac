"""``/v1/embeddings`` over Ollama's ``/api/embed``: request model, translation, service."""

from __future__ import annotations

import base64
import struct
from time import perf_counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.access.rights import authorize_model
from gateway.context import RequestContext
from gateway.errors import InvalidRequest, UpstreamError
from gateway.settings import Settings
from gateway.upstream.capabilities import cannot_embed
from gateway.upstream.client import OllamaClient

# Model families known to have no embedding head: refused before a round trip to Ollama (which
# would load the whole model first, then answer 501).
GENERATION_ONLY_FAMILIES = ("gpt-oss",)


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request; unknown fields (``user``, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str | None = Field(default=None, min_length=1)
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, gt=0, le=65536)
    user: str | None = None


def texts_of(value: str | list[Any]) -> list[str]:
    """The input texts; token arrays and empty input get a 400 naming ``input``."""
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise InvalidRequest(
            "'input' is empty. Send a string or a non-empty list of strings.", param="input"
        )
    for position, text in enumerate(texts):
        if isinstance(text, int | list):
            raise InvalidRequest(
                "Token arrays are not supported as 'input': this server embeds text. "
                "Send the text itself as a string or a list of strings.",
                param="input",
            )
        if not isinstance(text, str):
            raise InvalidRequest(
                f"'input[{position}]' must be a string, got {type(text).__name__}.",
                param="input",
            )
    return texts


def ollama_body(request: EmbeddingsRequest, model: str) -> dict[str, Any]:
    """The ``/api/embed`` body for an OpenAI request (``model`` is the resolved Ollama name)."""
    body: dict[str, Any] = {"model": model, "input": texts_of(request.input)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def encode_base64(vector: list[float]) -> str:
    """OpenAI's ``base64`` encoding: little-endian float32 values, base64 text."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def openai_response(
    reply: dict[str, Any], *, model: str, encoding: Literal["float", "base64"]
) -> dict[str, Any]:
    """OpenAI's embeddings list for Ollama's ``/api/embed`` reply."""
    vectors = reply.get("embeddings")
    if not isinstance(vectors, list):
        raise UpstreamError("Ollama's embedding reply has no 'embeddings' list. Retry the request.")
    tokens = int(reply.get("prompt_eval_count") or 0)
    data = [
        {
            "object": "embedding",
            "embedding": encode_base64(vector) if encoding == "base64" else vector,
            "index": index,
        }
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class EmbeddingsService:
    """Runs one embeddings request against Ollama."""

    def __init__(self, settings: Settings, ollama: OllamaClient, ctx: RequestContext) -> None:
        self.settings = settings
        self.ollama = ollama
        self.ctx = ctx

    def embedding_model(self, requested: str | None) -> tuple[str, str]:
        """(Ollama model, public name for the reply) for the model a request names.

        No model, or the default generation model (which cannot embed), means
        ``GATEWAY_EMBEDDINGS_MODEL``, and the reply names that model. Any other model is used as
        asked; a known generation-only family is a 400 naming the model to use instead.
        """
        settings = self.settings
        if requested is not None:
            model = settings.resolve_model(requested)
            authorize_model(self.ctx, model)
            if model != settings.default_model:
                if model.startswith(GENERATION_ONLY_FAMILIES):
                    raise cannot_embed(requested, settings.embeddings_model)
                return model, requested
        model = settings.resolve_model(settings.embeddings_model)
        authorize_model(self.ctx, model)
        return model, settings.embeddings_model

    async def create(self, request: EmbeddingsRequest) -> dict[str, Any]:
        """Embed the input; the reply names the model that embedded it (see
        :meth:`embedding_model`)."""
        model, public = self.embedding_model(request.model)
        self.ctx.model = model  # logs, metrics and usage record the real model, not an alias
        body = ollama_body(request, model)
        started = perf_counter()
        try:
            reply = await self.ollama.json(
                "POST", "/api/embed", body, request_id=self.ctx.request_id, model=model
            )
        finally:
            self.ctx.add_upstream_time(perf_counter() - started)
        result = openai_response(reply, model=public, encoding=request.encoding_format)
        self.ctx.record_usage(result["usage"]["prompt_tokens"], 0)
        return result
