"""A trailing slash is ignored: ``POST /v1/chat/completions/`` is served as the path without it.

Starlette's default answers such a request with a 307 redirect whose ``Location`` is built from the
``Host`` header; behind nginx that URL has lost the published port, and clients that do follow it
re-send the POST elsewhere or not at all. No route of the API ends in a slash, so dropping it before
routing serves what the caller meant. The app is built with ``redirect_slashes=False`` as well.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    """Pure-ASGI: strips trailing slashes from the path (``/`` itself stays) before routing.

    Sits outside the layers that look at the path (metrics, request context, access), so they all
    see the path the router serves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call, with ``path`` and ``raw_path`` stripped of trailing slashes."""
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw_path = scope.get("raw_path")
            if isinstance(raw_path, bytes):
                scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
