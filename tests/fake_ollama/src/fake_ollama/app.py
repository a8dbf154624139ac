"""The ASGI application: routing (gin-like 404/405), CORS origin check, logging, cancellations."""

from __future__ import annotations

import asyncio
import fnmatch
import sys
import time
from collections.abc import Awaitable, Callable

from fake_ollama import admin, embed, pull, routes_generate, routes_models
from fake_ollama.asgi import Exchange, HTTPError, Receive, Scope, Send
from fake_ollama.config import Settings
from fake_ollama.state import State

Handler = Callable[[Exchange, State], Awaitable[None]]
_GET = ("GET", "HEAD")
ROUTES: dict[str, dict[str, Handler]] = {
    "/": dict.fromkeys(_GET, routes_models.root),
    "/api/version": dict.fromkeys(_GET, routes_models.version),
    "/api/tags": dict.fromkeys(_GET, routes_models.tags),
    "/api/ps": {"GET": routes_models.ps},
    "/api/show": {"POST": routes_models.show},
    "/api/chat": {"POST": routes_generate.chat},
    "/api/generate": {"POST": routes_generate.generate},
    "/api/embed": {"POST": embed.embed},
    "/api/embeddings": {"POST": embed.embeddings},
    "/api/pull": {"POST": pull.pull},
    "/api/push": {"POST": routes_models.push},
    "/api/create": {"POST": routes_models.create},
    "/api/copy": {"POST": routes_models.copy},
    "/api/delete": {"DELETE": routes_models.delete},
    "/_fake/requests": {"GET": admin.requests},
    "/_fake/cancelled": {"GET": admin.cancelled},
    "/_fake/stats": {"GET": admin.stats},
    "/_fake/reset": {"POST": admin.reset},
    "/_fake/config": {"GET": admin.config, "POST": admin.config},
}
_PLAIN = b"text/plain"
_BUILTIN_ORIGINS = (
    *(
        f"{scheme}://{host}{port}"
        for scheme in ("http", "https")
        for host in ("localhost", "127.0.0.1", "0.0.0.0")
        for port in ("", ":*")
    ),
    *("app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"),
)
_CORS_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    (
        b"access-control-allow-headers",
        b"Authorization, Content-Type, User-Agent, Accept, X-Requested-With",
    ),
]


def origin_allowed(origin: str, extra: tuple[str, ...]) -> bool:
    """Ollama's CORS rule: built-in local origins plus ``OLLAMA_ORIGINS`` patterns."""
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in (*_BUILTIN_ORIGINS, *extra))


class FakeOllamaApp:
    """ASGI callable serving the fake Ollama API from one :class:`State`."""

    def __init__(self, settings: Settings) -> None:
        self.state = State(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point (HTTP only; lifespan and websockets are ignored)."""
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await self._dispatch(Exchange(scope, receive, send, body))

    async def _dispatch(self, ex: Exchange) -> None:
        state = self.state
        entry = None if ex.path.startswith("/_fake/") else state.record_request(ex)
        try:
            await self._route(ex)
        except HTTPError as exc:
            if not ex.started:
                await ex.send_error(exc.status, exc.message)
        except asyncio.CancelledError:
            # The client went away (watcher) or the server is shutting down: either way the
            # request ends here; only the former is a cancellation the tests care about.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if ex.disconnected:
                state.record_cancel(ex)
        finally:
            ex.stop_watching()
        elapsed_ms = (time.perf_counter_ns() - ex.started_ns) / 1e6
        if entry is not None:
            entry["status"] = ex.status or None
            entry["cancelled"] = ex.disconnected
            entry["duration_ms"] = round(elapsed_ms, 3)
        if not state.settings.quiet:
            _log(ex, elapsed_ms)

    async def _route(self, ex: Exchange) -> None:
        origin = ex.headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.state.settings.origins):
            await ex.respond(403, b"", None)
            return
        methods = ROUTES.get(ex.path)
        if methods is None:
            await ex.respond(404, b"404 page not found", _PLAIN)
        elif handler := methods.get(ex.method):
            await handler(ex, self.state)
        elif ex.method == "OPTIONS" and origin is not None:
            allow = [(b"access-control-allow-origin", origin.encode("latin-1")), *_CORS_HEADERS]
            await ex.respond(204, b"", None, allow)
        else:
            await ex.respond(405, b"405 method not allowed", _PLAIN)


def _log(ex: Exchange, elapsed_ms: float) -> None:
    outcome = "client-gone" if ex.disconnected else "dropped" if ex.aborted else str(ex.status)
    parts = [ex.method, ex.path, outcome, f"{elapsed_ms:.2f}ms"]
    if ex.model:
        parts.append(f"model={ex.model}")
    if ex.tokens:
        parts.append(f"tokens={ex.tokens}")
    if rid := ex.headers.get("x-request-id"):
        parts.append(f"rid={rid[:64]}")
    sys.stderr.write(" ".join(parts) + "\n")
