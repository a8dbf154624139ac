"""Cross-origin calls from browsers (CORS), off unless ``GATEWAY_CORS_ORIGINS`` lists origins.

A web page on another origin (a chat app on the LAN, a notebook, an extension) may call the API
only when the browser's preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) is answered with the right ``Access-Control-Allow-*`` headers,
and may read an answer only when it carries ``Access-Control-Allow-Origin``.

:class:`CorsMiddleware` (pure ASGI) is the outermost layer of the app: preflights are answered
here, before authentication, so they need no key and count against no rate limit nor the
failed-auth limiter; every other answer to an allowed origin (errors, streams and the
containment layer's 500 included) gets the allow and expose headers on its way out. Keys travel
in ``Authorization``, never in cookies, so credentials are never allowed and a reflected request
header list is safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import REQUEST_ID_HEADER
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.settings import ANY_ORIGIN

log = logging.getLogger("gateway.cors")

ALLOWED_METHODS = b"GET, HEAD, POST, DELETE, OPTIONS"
_RATELIMIT_HEADERS = [
    f"x-ratelimit-{part}-{kind}"
    for kind in ("requests", "tokens")
    for part in ("limit", "remaining", "reset")
]
# What a page may read from an answer besides the CORS-safelisted headers.
EXPOSED_HEADERS = ", ".join(
    [
        REQUEST_ID_HEADER,
        "x-queue-seconds",
        "retry-after",
        "x-gateway-dropped-tools",  # tools of a Responses request the stack cannot run
        "x-gateway-pinned",  # /api/* options the gateway kept at the stack's values
        "x-prompt-truncated",  # the prompt is longer than the context window
        *_RATELIMIT_HEADERS,
    ]
).encode()
# Seconds a browser may reuse a preflight answer (Chromium caps it at 7200).
PREFLIGHT_MAX_AGE = b"600"
_HEADER_LIST = re.compile(
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
)


class CorsPolicy:
    """Which origins may call the API from a browser (as ``Settings.cors_origins`` has them)."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)
        self.any_origin = ANY_ORIGIN in self.origins
        if self.any_origin:
            log.warning(
                "GATEWAY_CORS_ORIGINS is '*': a web page on any origin may call this API with a "
                "key it holds. List the origins of your web clients instead where you can."
            )

    def allow_origin(self, origin: bytes) -> bytes | None:
        """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or None."""
        if self.any_origin:
            return b"*"
        return origin if origin.decode("latin-1") in self.origins else None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class CorsMiddleware:
    """Pure-ASGI: answers preflights and adds the CORS headers to answers for allowed origins."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call."""
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.policy.allow_origin(origin)
        requested_method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested_method is not None:
            await self._preflight(scope, receive, send, origin, allowed)
            return
        if allowed is None:  # served as usual; the browser keeps the answer from the page
            await self.app(scope, receive, send)
            return
        extra = [
            (b"access-control-allow-origin", allowed),
            (b"access-control-expose-headers", EXPOSED_HEADERS),
            *self._vary(),
        ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _vary(self) -> list[tuple[bytes, bytes]]:
        return [] if self.policy.any_origin else [(b"vary", b"Origin")]

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: bytes, allowed: bytes | None
    ) -> None:
        if allowed is None:
            shown = origin.decode("latin-1")[:200]
            log.info("cors preflight refused", extra={"origin": shown, "path": scope["path"]})
            refusal = PermissionDenied(
                f"Cross-origin requests from {shown} are not allowed by this server. Ask its "
                "operator to add this origin to GATEWAY_CORS_ORIGINS.",
                code="cors_origin_not_allowed",
                headers={"Vary": "Origin"},
            )
            await refusal.to_response()(scope, receive, send)
            return
        requested_headers = (_header(scope, b"access-control-request-headers") or b"").strip()
        if requested_headers and not _HEADER_LIST.fullmatch(requested_headers):
            await InvalidRequest(
                "Access-Control-Request-Headers must be a comma-separated list of header names.",
                code="invalid_header",
            ).to_response()(scope, receive, send)
            return
        headers = [
            (b"access-control-allow-origin", allowed),
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            *self._vary(),
        ]
        if requested_headers:
            headers.append((b"access-control-allow-headers", requested_headers))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
