"""Which requests the ledger charges, to which model, and with what usage.

Every request that a key sent to a model endpoint and that was admitted (past auth, rate limits
and budgets) is charged once, after its answer, from the request context: the tokens Ollama
reported (or, for a stream cut short, the chunks relayed), the reasoning chunks, and whether it
failed. A client that left is charged what was generated, not counted as an error. Model names
are kept bounded: a failed request for a model that is not configured is charged to ``other``.
"""

from __future__ import annotations

from gateway.access.rights import normalise_model
from gateway.access.usage.ledger import Usage
from gateway.context import CLIENT_DISCONNECT, OK, RequestContext
from gateway.settings import Settings

METERED_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
    }
)
NO_MODEL = "none"
OTHER_MODEL = "other"
CLIENT_CLOSED = 499


def is_metered(path: str) -> bool:
    """True for the endpoints whose requests the ledger charges and budgets limit."""
    return path.rstrip("/") in METERED_PATHS


def failed(ctx: RequestContext) -> bool:
    """True when the request ended in an error (a client leaving is not one)."""
    if ctx.outcome is not None and ctx.outcome not in (OK, CLIENT_DISCONNECT):
        return True
    return ctx.status >= 400 and ctx.status != CLIENT_CLOSED


def usage_of(ctx: RequestContext) -> Usage:
    """What one finished request adds to the ledger."""
    return Usage(
        requests=1,
        prompt=ctx.prompt_tokens or 0,
        completion=ctx.completion_tokens or 0,
        reasoning=ctx.reasoning_tokens or 0,
        errors=int(failed(ctx)),
    )


def model_of(ctx: RequestContext, settings: Settings) -> str:
    """The ledger's model name for the request: the Ollama name, tag included."""
    if not ctx.model:
        return NO_MODEL
    model = normalise_model(settings, ctx.model)
    if failed(ctx) and not settings.is_expected(model):
        return OTHER_MODEL
    return model
