"""What a handler needs from its request: the settings, the Ollama client, the request context.

Plain functions that handlers call directly. Never wrap them in ``Depends``: FastAPI runs a
synchronous dependency in its thread pool, a thread hop per request for an attribute read.
"""

from __future__ import annotations

from fastapi import Request

from gateway.context import RequestContext
from gateway.settings import Settings
from gateway.upstream.client import OllamaClient


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_ollama(request: Request) -> OllamaClient:
    """The worker's shared Ollama client (opened in the lifespan)."""
    client: OllamaClient = request.app.state.ollama
    return client


def get_context(request: Request) -> RequestContext:
    """This request's context (created by the request-context middleware, always installed)."""
    ctx: RequestContext = request.state.ctx
    return ctx
