"""Ollama's native API under ``/api/``: generation and read-only routes relayed unchanged,
model management relayed for admin keys only."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.access.rights import require_admin
from gateway.deps import get_context, get_ollama
from gateway.upstream.fanout import JSON, merged_list, to_every_backend
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
# With several backends: answered from all of them (gateway.upstream.fanout).
MERGED_LISTS = frozenset({"/api/tags", "/api/ps"})
EVERY_BACKEND_ROUTES = frozenset({"/api/pull", "/api/delete"})


async def relay_generation(request: Request) -> Response:
    """``/api/chat`` and ``/api/generate``: relayed, with model and tokens taken for the logs."""
    return await relay(request, get_ollama(request), get_context(request), tap_usage=True)


async def relay_as_is(request: Request) -> Response:
    """Embeddings, ``show``, ``tags``, ``version`` and ``ps``: relayed unchanged.

    With several backends, ``GET /api/tags`` and ``GET /api/ps`` list every backend's models.
    """
    ollama = get_ollama(request)
    if ollama.router.several and request.method == "GET" and request.url.path in MERGED_LISTS:
        merged = await merged_list(ollama.router, request.url.path)
        return Response(orjson.dumps(merged), media_type=JSON)
    return await relay(request, ollama, get_context(request))


async def relay_management(request: Request) -> Response:
    """Model management: relayed for admin keys only (403 ``admin_key_required`` otherwise).

    With several backends, ``/api/pull`` and ``/api/delete`` reach every one of them.
    """
    require_admin(get_context(request), MANAGEMENT_ACTION)
    ollama = get_ollama(request)
    if ollama.router.several and request.url.path in EVERY_BACKEND_ROUTES:
        body = await request.body()
        answer = await to_every_backend(ollama.router, request.method, request.url.path, body)
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
    return await relay(request, ollama, get_context(request))


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
