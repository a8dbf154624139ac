"""Ollama's native API under ``/api/``: generation and read-only routes relayed unchanged,
model management relayed for admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.access import require_admin
from gateway.deps import ContextDep, OllamaDep
from gateway.passthrough import relay

router = APIRouter(tags=["ollama"])

GENERATION_ROUTES = ("/api/chat", "/api/generate")
RELAYED_ROUTES: dict[str, list[str]] = {
    "/api/embed": ["POST"],
    "/api/embeddings": ["POST"],
    "/api/show": ["POST"],
    "/api/tags": ["GET", "HEAD"],
    "/api/version": ["GET", "HEAD"],
    "/api/ps": ["GET"],
}
MANAGEMENT_ACTION = "Model management (pull, push, create, copy, delete, blobs)"
MANAGEMENT_ROUTES: dict[str, list[str]] = {
    "/api/pull": ["POST"],
    "/api/push": ["POST"],
    "/api/create": ["POST"],
    "/api/copy": ["POST"],
    "/api/delete": ["DELETE"],
    "/api/blobs/{digest}": ["HEAD", "POST"],
}


async def relay_generation(request: Request, ollama: OllamaDep, ctx: ContextDep) -> Response:
    """``/api/chat`` and ``/api/generate``: relayed, with model and tokens taken for the logs."""
    return await relay(request, ollama, ctx, tap_usage=True)


async def relay_as_is(request: Request, ollama: OllamaDep, ctx: ContextDep) -> Response:
    """Embeddings, ``show``, ``tags``, ``version`` and ``ps``: relayed unchanged."""
    return await relay(request, ollama, ctx)


async def relay_management(request: Request, ollama: OllamaDep, ctx: ContextDep) -> Response:
    """Model management: relayed for admin keys only (403 ``admin_key_required`` otherwise)."""
    require_admin(ctx, MANAGEMENT_ACTION)
    return await relay(request, ollama, ctx)


for _path in GENERATION_ROUTES:
    router.add_api_route(_path, relay_generation, methods=["POST"])
for _path, _methods in RELAYED_ROUTES.items():
    router.add_api_route(_path, relay_as_is, methods=_methods)
for _path, _methods in MANAGEMENT_ROUTES.items():
    router.add_api_route(_path, relay_management, methods=_methods)
