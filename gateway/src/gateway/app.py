"""The app factory: `create_app(settings)` wires settings, Ollama client, routes, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import __version__
from gateway.access.cors import CorsMiddleware, CorsPolicy
from gateway.access.guard import build_guard
from gateway.access.middleware import AccessMiddleware
from gateway.errors import install_error_handlers
from gateway.middleware import (
    BodyLimitMiddleware,
    ContainmentMiddleware,
    RequestContextMiddleware,
)
from gateway.observability.health import ReadinessChecker
from gateway.observability.logs import configure_logging
from gateway.observability.metrics import publish_build_info
from gateway.observability.request_metrics import MetricsMiddleware, RequestMetrics
from gateway.routes import (
    chat,
    completions,
    embeddings,
    health,
    me,
    metrics,
    models,
    ollama_native,
    responses,
)
from gateway.routes.trailing_slash import TrailingSlashMiddleware
from gateway.settings import Settings
from gateway.upstream.client import OllamaClient


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway ASGI app; settings default to the ``GATEWAY_*`` environment."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    guard = build_guard(settings)  # refuses to start without keys (unless auth is disabled)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ollama = OllamaClient(settings)
        app.state.readiness = ReadinessChecker(settings, app.state.ollama.http)
        publish_build_info(settings.git_sha)
        try:
            async with app.state.readiness.probing():
                yield
        finally:
            await app.state.ollama.aclose()
            await guard.aclose()

    app = FastAPI(
        title="gpt-oss gateway",
        version=__version__,
        description="OpenAI-compatible API for gpt-oss:20b served by Ollama.",
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect built from Host loses nginx's port
    )
    app.state.settings = settings
    app.state.guard = guard
    install_error_handlers(app)
    # The router tries the routes in this order: the busiest first.
    app.include_router(chat.router)
    app.include_router(completions.router)
    app.include_router(responses.router)
    app.include_router(ollama_native.router)
    app.include_router(embeddings.router)
    app.include_router(models.router)
    app.include_router(me.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # add_middleware puts each new middleware outside the previous ones.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessMiddleware, guard=guard)  # auth + rate limits, reads the context
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(MetricsMiddleware, recorder=RequestMetrics(settings))  # reads the context
    app.add_middleware(TrailingSlashMiddleware)  # /v1/x/ is served as /v1/x, not redirected
    app.add_middleware(ContainmentMiddleware)  # no exception reaches the server
    if settings.cors_origins:  # outside it all: preflights need no key, every answer (the 500s
        # of the containment layer too) gets the CORS headers
        app.add_middleware(CorsMiddleware, policy=CorsPolicy(settings.cors_origins))
    return app
