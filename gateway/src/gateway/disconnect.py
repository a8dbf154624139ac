"""Non-streaming handlers' side of a client disconnect: cancel the work, record the outcome."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from gateway.cancellation import ClientDisconnected, cancel_on_disconnect
from gateway.context import CLIENT_DISCONNECT, RequestContext
from gateway.errors import GatewayError

T = TypeVar("T")


class ClientClosedRequest(GatewayError):
    """499 (nginx's convention): the client left before the answer; nobody reads this body."""

    status = 499
    type = "invalid_request_error"
    default_code = "client_closed_request"


async def until_disconnect(request: Request, ctx: RequestContext, work: Awaitable[T]) -> T:
    """Await ``work``; a departed client cancels it and ends the request (``client_disconnect``)."""
    try:
        return await cancel_on_disconnect(request, work)
    except ClientDisconnected:
        ctx.outcome = CLIENT_DISCONNECT
        raise ClientClosedRequest("The client closed the connection before the answer.") from None
