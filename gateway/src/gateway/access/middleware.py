"""The access middleware (pure ASGI): auth, budgets, rate limits, ``x-ratelimit-*`` headers,
settlement (rate-limit tokens, concurrency slot, usage ledger).

Written against the raw ASGI interface (never ``BaseHTTPMiddleware``): it adds a few
microseconds plus the store round trip(s) of :class:`gateway.access.guard.Guard`, and never hides a
client disconnect from the handlers. A response's token usage is charged (and its concurrency slot
freed) by a store update started just before its last body message goes out and awaited after
it; when no last message goes out (the client went away, the app failed) when the app returns.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access.guard import Guard, is_protected
from gateway.access.keytable import ApiKey
from gateway.access.ratelimit.store import Ticket, needs_settling, openai_headers
from gateway.context import RequestContext, context_of
from gateway.errors import GatewayError

API_KEY_STATE = "api_key"
"""Where the request's :class:`ApiKey` is kept in ``scope["state"]`` (``request.state``)."""


class AccessMiddleware:
    """Pure-ASGI: authenticates, rate-limits, adds the headers and settles usage afterwards.

    Sits inside :class:`gateway.middleware.RequestContextMiddleware` (it reads the context).
    """

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call."""
        if scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        ctx = context_of(scope)
        if ctx is None:
            raise RuntimeError("AccessMiddleware must run inside RequestContextMiddleware")
        metered = self.guard.usage.meters(scope["path"])
        try:
            key = await self.guard.authenticate(scope, ctx)
            admission = await self.guard.admit(key, ctx, metered=metered)
        except GatewayError as error:
            ctx.record_error(error.status, error.code)
            await error.to_response()(scope, receive, send)
            return
        _bind(ctx, key)
        scope["state"][API_KEY_STATE] = key
        extra = openai_headers(admission) if admission and scope["path"].startswith("/v1/") else []
        ticket = admission.ticket if admission else None
        if not metered and (ticket is None or not needs_settling(ticket)):
            await self.app(scope, receive, _adding_headers(send, extra) if extra else send)
            return
        charged = key if metered else None
        await self._settling(scope, receive, send, extra, ticket, ctx, charged)

    async def _settling(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[tuple[bytes, bytes]],
        ticket: Ticket | None,
        ctx: RequestContext,
        charged: ApiKey | None,
    ) -> None:
        settling: asyncio.Task[None] | None = None
        held: Message | None = None  # the response start, sent with the first body message

        async def send_and_settle(message: Message) -> None:
            # The settlement's loop turns come before the start of a one-message answer, never
            # between its start and its body: a client that half-closed its side gets the whole
            # answer or none, not headers promising a body the closed transport then drops.
            nonlocal settling, held
            kind = message["type"]
            if kind == "http.response.start":
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
                held = message
                return
            if kind == "http.response.body" and not message.get("more_body") and not settling:
                settling = await self.guard.start_settling(ticket, ctx, charged)
            if held is not None:
                start, held = held, None
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, send_and_settle)
        finally:
            if settling is None:  # the client went away, or the app failed
                settling = self.guard.settle_in_background(ticket, ctx, charged)
            await asyncio.shield(settling)  # runs to its end even if this task is cancelled


def _bind(ctx: RequestContext, key: ApiKey) -> None:
    ctx.key_id = key.id
    ctx.key_name = key.name
    ctx.key_admin = key.admin
    ctx.key_models = key.models


def _adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return send_with_headers
