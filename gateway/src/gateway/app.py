"""The app factory: `create_app(settings)` wires settings, Ollama client, routes, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway import __version__
from gateway.errors import install_error_handlers
from gateway.logs import configure_logging
from gateway.middleware import BodyLimitMiddleware, RequestContextMiddleware
from gateway.routes import health
from gateway.settings import Settings
from gateway.upstream import OllamaClient


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway ASGI app; settings default to the ``GATEWAY_*`` environment."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ollama = OllamaClient(settings)
        try:
            yield
        finally:
            await app.state.ollama.aclose()

    app = FastAPI(
        title="gpt-oss gateway",
        version=__version__,
        description="OpenAI-compatible API for gpt-oss:20b served by Ollama.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    # add_middleware puts each new middleware outside the previous ones: the context is outermost.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
