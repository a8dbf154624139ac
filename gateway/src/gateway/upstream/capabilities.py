"""Ollama's "model lacks a capability" refusals, turned into 400s that name the OpenAI field.

Ollama checks what a request needs against what the model can do before it schedules it
(``scheduleRunner`` -> ``Model.CheckCapabilities``) and answers 400
``<full model name> does not support <capability>``. The capability names are Ollama's
(``insert``, ``tools``, ``thinking``, ``vision``, ...); the caller knows the OpenAI field that asked
for it, so the answer says which field to drop or which model to use instead.
"""

from __future__ import annotations

import re

from gateway.errors import InvalidRequest

_MISSING = re.compile(r"does not support (?P<capability>[a-z]+)(?:\n|$)")

# capability -> (OpenAI field that needs it, what the capability is, what to do instead)
_FIELDS: dict[str, tuple[str | None, str, str]] = {
    "insert": (
        "suffix",
        "insert (fill-in-the-middle)",
        "omit `suffix`, or use a code model whose template supports it",
    ),
    "tools": ("tools", "tools (function calling)", "omit `tools`, or use a model with tools"),
    "thinking": (
        "reasoning_effort",
        "thinking",
        "omit the reasoning effort, or use a reasoning model",
    ),
    "vision": ("messages", "vision (image input)", "send text only, or use a vision model"),
}


# Ollama >= 0.32 embeds through llama-server, which a model without a pooling head (gpt-oss) runs
# without --embeddings: /api/embed passes on its 501 "This server does not support embeddings.
# Start it with `--embeddings`" (server/routes.go EmbedHandler, llm/llama_server.go Embedding);
# /api/embeddings makes it a 500. Older releases said "this model does not support embeddings".
_NO_EMBEDDINGS = "does not support embeddings"


def missing_capability(message: str) -> str | None:
    """The capability an Ollama error message says the model lacks, if it says so."""
    if _NO_EMBEDDINGS in message.lower():
        return "embedding"
    found = _MISSING.search(message)
    return found.group("capability") if found else None


def capability_error(
    capability: str, model: str | None, *, embeddings_model: str | None = None
) -> InvalidRequest:
    """The 400 for a request that needs ``capability``, which ``model`` does not have.

    ``embeddings_model`` (``GATEWAY_EMBEDDINGS_MODEL``) is the model named as the one to use
    when the missing capability is ``embedding``.
    """
    if capability == "embedding":
        return cannot_embed(model, embeddings_model)
    param, what, instead = _FIELDS.get(capability, (None, capability, "use another model"))
    named = f"`{param}` needs" if param else "This request needs"
    return InvalidRequest(
        f"{named} the model capability '{what}', which {model or 'the model'} does not have: "
        f"{instead}.",
        code="model_capability_missing",
        param=param,
    )


def cannot_embed(model: str | None, embeddings_model: str | None) -> InvalidRequest:
    """The 400 for embeddings asked of a model that cannot embed, naming one that can."""
    use = (
        f"use an embedding model such as '{embeddings_model}' (GATEWAY_EMBEDDINGS_MODEL, also used "
        "when 'model' is omitted)"
        if embeddings_model
        else "use an embedding model such as 'nomic-embed-text'"
    )
    return InvalidRequest(
        f"{model or 'The model'} cannot create embeddings (it is a text generation model): {use}.",
        code="model_capability_missing",
        param="model",
    )
