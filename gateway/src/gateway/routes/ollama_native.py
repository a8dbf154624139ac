"""Ollama's native API under ``/api/``: generation and read-only routes relayed unchanged,
model management relayed for admin keys only."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.access.rights import require_admin
from gateway.deps import get_context, get_ollama
from gateway.upstream.passthrough import relay

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


async def relay_generation(request: Request) -> Response:
    """``/api/chat`` and ``/api/generate``: relayed, with model and tokens taken for the logs."""
    return await relay(request, get_ollama(request), get_context(request), tap_usage=True)


async def relay_as_is(request: Request) -> Response:
    """Embeddings, ``show``, ``tags``, ``version`` and ``ps``: relayed unchanged."""
    return await relay(request, get_ollama(request), get_context(request))


async def relay_management(request: Request) -> Response:
    """Model management: relayed for admin keys only (403 ``admin_key_required`` otherwise)."""
    require_admin(get_context(request), MANAGEMENT_ACTION)
    return await relay(request, get_ollama(request), get_context(request))


def _path_parameters(path: str) -> dict[str, Any] | None:
    """OpenAPI declarations of the ``{name}`` parts of ``path`` (the relay reads none itself)."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return None
    schema = {"type": "string"}
    return {
        "parameters": [{"name": n, "in": "path", "required": True, "schema": schema} for n in names]
    }


def _routes() -> APIRouter:
    """The router with every relayed path on the methods Ollama serves it with."""
    routes = APIRouter(tags=["ollama"])
    table = [
        *((path, ["POST"], relay_generation) for path in GENERATION_ROUTES),
        *((path, methods, relay_as_is) for path, methods in RELAYED_ROUTES.items()),
        *((path, methods, relay_management) for path, methods in MANAGEMENT_ROUTES.items()),
    ]
    for path, methods, endpoint in table:
        for method in methods:  # one route per method: each needs its own OpenAPI operation id
            name = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
            routes.add_api_route(
                path,
                endpoint,
                methods=[method],
                operation_id=f"ollama_{method.lower()}_{name}",
                openapi_extra=_path_parameters(path),
            )
    return routes


router = _routes()
