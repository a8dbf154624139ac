"""Health endpoints, open without a key: liveness (the process answers) and readiness."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.context import OK
from gateway.deps import get_context, get_ollama, get_settings
from gateway.observability.health import ReadinessChecker

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> Response:
    """200 whenever this worker's event loop answers; checks no dependency."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    """200 when Ollama answers, the default model is present and Redis (if used) answers; else 503.

    The body names each component with its status, latency and what to do; results are cached
    per worker for ``GATEWAY_READY_CACHE_SECONDS``. With admission control on, ``queue`` shows
    Ollama's generation slots (capacity, in flight) and the requests waiting for one: a full
    queue answers 503 to new generations but does not make the gateway unready.
    ``context_length`` is the context window Ollama runs the models with. With several Ollama
    backends, ``backends`` shows this worker's view of each one (and its queue).
    """
    checker: ReadinessChecker = request.app.state.readiness
    result = await checker.check()
    body = result.body()
    body["context_length"] = get_settings(request).context_length
    ollama = get_ollama(request)
    if ollama.router.several:  # each backend: ok or ejected, in flight, failures, its queue
        body["backends"] = await ollama.router.status()
    elif ollama.admission is not None:
        body["queue"] = await ollama.admission.status()
    # A 503 here reports on the dependencies; it is not a failed request.
    get_context(request).outcome = OK
    return Response(
        orjson.dumps(body),
        status_code=200 if result.ready else 503,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
