"""Pure-ASGI middleware of the core: containment of unexpected errors, request id + access log,
and the request-body size limit.

Written against the raw ASGI interface (never ``BaseHTTPMiddleware``) so that it adds only a few
microseconds and never hides a client disconnect from the handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import (
    CLIENT_DISCONNECT,
    ERROR,
    REQUEST_ID_HEADER,
    RequestContext,
    accept_or_mint_request_id,
    bind,
    context_of,
    outcome_for_status,
)
from gateway.errors import GatewayError, RequestTooLarge

access_log = logging.getLogger("gateway.access")
log = logging.getLogger("gateway.errors")
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode()
# Seconds a generation waited for one of Ollama's slots (admission control).
QUEUE_SECONDS_HEADER = b"x-queue-seconds"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def route_template(scope: Scope) -> str | None:
    """The template of the route the router matched (None before routing or when none did)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class RequestContextMiddleware:
    """Creates the :class:`RequestContext`, echoes ``X-Request-ID`` and writes the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call; HTTP requests get a context, an id header and a log line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(
            request_id=accept_or_mint_request_id(_header(scope, _REQUEST_ID_BYTES)),
            method=scope["method"],
            path=scope["path"],
            client_ip=_client_ip(scope),
        )
        scope.setdefault("state", {})["ctx"] = ctx
        bind(ctx)
        id_header = (_REQUEST_ID_BYTES, ctx.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
                if ctx.queued_seconds is not None:
                    queued = f"{ctx.queued_seconds:.3f}".encode()
                    message["headers"].append((QUEUE_SECONDS_HEADER, queued))
                if ctx.response_headers:
                    message["headers"].extend(
                        (name.lower().encode(), value.encode())
                        for name, value in ctx.response_headers.items()
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            ctx.status = ctx.status or 500
            ctx.outcome = ctx.outcome or ERROR
            raise
        finally:
            ctx.route = route_template(scope)
            if ctx.outcome is None:
                ctx.outcome = outcome_for_status(ctx.status)
            if ctx.status == 0 and ctx.outcome == CLIENT_DISCONNECT:
                ctx.status = 499
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("request", extra=_access_fields(ctx))


def _access_fields(ctx: RequestContext) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": ctx.request_id,
        "method": ctx.method,
        "route": ctx.route or ctx.path,
        "status": ctx.status,
        "duration_ms": round(ctx.elapsed() * 1000, 2),
        "outcome": ctx.outcome,
        "client_ip": ctx.client_ip,
    }
    if ctx.model:
        fields["model"] = ctx.model
        fields["stream"] = ctx.stream
    if ctx.prompt_tokens is not None or ctx.completion_tokens is not None:
        fields["prompt_tokens"] = ctx.prompt_tokens
        fields["completion_tokens"] = ctx.completion_tokens
    if ctx.key_name:
        fields["key"] = ctx.key_name
    return fields


class BodyLimitMiddleware:
    """Answers 413 (OpenAI envelope) for bodies above ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> RequestTooLarge:
        return RequestTooLarge(
            f"The request body is larger than this server accepts ({self.max_bytes} bytes). "
            "Shorten the conversation or ask the operator to raise GATEWAY_MAX_BODY_BYTES."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject oversized bodies before the handler reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large().to_response()(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)


class ContainmentMiddleware:
    """The outermost layer: no exception ever reaches the server.

    Starlette's own last resort answers 500 and then re-raises, and uvicorn closes the
    connection; behind nginx's keep-alive pool the next request already written on it — another
    user's — fails with a 502. Here anything unexpected is logged once with its traceback and
    answered with a 500 in OpenAI's envelope carrying the request id, and the connection stays
    usable. When the response had already begun nothing more can be said; the exception is
    logged and the server ends that response (a stream's own errors go out as SSE events before
    this point). Cancellation (``BaseException``) passes through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call; an unexpected exception becomes a 500 envelope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            ctx = context_of(scope)
            request_id = ctx.request_id if ctx is not None else accept_or_mint_request_id(None)
            log.exception(
                "unexpected error while serving a request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "response_started": started,
                },
            )
            if not started:
                await _internal_error(request_id)(scope, receive, send)


def _internal_error(request_id: str) -> Response:
    """The 500 answered for an unexpected error, with the request id to report."""
    error = GatewayError(
        f"The gateway failed unexpectedly while handling this request (request id {request_id}). "
        "Retrying may help; if it keeps failing, report the request id to the operator, whose "
        "gateway log has the details.",
        code="internal_error",
        headers={REQUEST_ID_HEADER: request_id},
    )
    return error.to_response()
