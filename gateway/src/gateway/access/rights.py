"""What an authenticated key may do: which models it may use and whether it may manage models.

Auth (``gateway.access.guard``) copies the key's rights onto the :class:`RequestContext`; the code
that resolves a request's model calls :func:`authorize_model`, the model-management pass-through
calls :func:`require_admin`. Model names are compared in one normal form: aliases resolved to the
Ollama name and a missing tag read as ``:latest`` (Ollama's own rule), so ``gpt-oss-20b`` and
``gpt-oss:20b`` are the same model for an allow-list.
"""

from __future__ import annotations

from gateway.context import RequestContext
from gateway.errors import PermissionDenied
from gateway.settings import Settings, with_tag


def normalise_model(settings: Settings, name: str) -> str:
    """The Ollama name of ``name`` (alias resolved, tag added): the form allow-lists hold."""
    return with_tag(settings.resolve_model(name))


def model_allowed(ctx: RequestContext, model: str) -> bool:
    """True when the request's key may use ``model`` (an Ollama name, as resolve_model gives)."""
    return ctx.key_models is None or with_tag(model) in ctx.key_models


def authorize_model(ctx: RequestContext, model: str) -> None:
    """Raise 403 ``model_not_allowed`` unless the request's key may use ``model``.

    Call it with the resolved Ollama name (``settings.resolve_model(...)``), wherever a request's
    model is resolved.
    """
    if model_allowed(ctx, model):
        return
    allowed = ", ".join(sorted(ctx.key_models or ())) or "none"
    raise PermissionDenied(
        f"The API key '{ctx.key_name}' may not use the model '{model}'. "
        f"Models this key may use: {allowed}. Ask the operator to extend the key's model list.",
        code="model_not_allowed",
        param="model",
    )


def require_admin(ctx: RequestContext, action: str) -> None:
    """Raise 403 ``admin_key_required`` unless the request carries an admin key."""
    if ctx.key_admin:
        return
    who = f"the API key '{ctx.key_name}'" if ctx.key_name else "this request"
    raise PermissionDenied(
        f"{action} needs an admin key, and {who} is not one. Ask the operator to do it, or "
        "to create an admin key with `gateway keys create --name NAME --admin`.",
        code="admin_key_required",
    )
