"""Stop upstream work when the client goes away, for non-streaming calls, and record it.

Starlette cancels a streaming body iterator on disconnect by itself; a plain handler gets no such
signal, so a watcher task waiting for ``http.disconnect`` cancels its work (vLLM's pattern) and
the request ends as ``client_disconnect`` with a 499 nobody reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from gateway.context import CLIENT_DISCONNECT, RequestContext
from gateway.errors import GatewayError

T = TypeVar("T")


class ClientClosedRequest(GatewayError):
    """499 (nginx's convention): the client left before the answer; nobody reads this body."""

    status = 499
    type = "invalid_request_error"
    default_code = "client_closed_request"


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnect(request: Request, ctx: RequestContext, work: Awaitable[T]) -> T:
    """Await ``work``; a departed client cancels it and ends the request (``client_disconnect``).

    ``work`` runs in the calling task (no task of its own to create and schedule); a watcher task
    waiting for ``http.disconnect`` cancels the calling task when the client leaves, so the
    cleanup of ``work`` (closing the upstream request) runs before ClientClosedRequest is raised.
    Call only after the request body has been read (FastAPI reads it before the handler runs).
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("until_disconnect must be awaited from a task")
    watching = True
    departed = False

    def on_watcher_done(watcher: asyncio.Future[None]) -> None:
        nonlocal departed
        if watching and not watcher.cancelled():
            departed = True
            task.cancel()

    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    watcher.add_done_callback(on_watcher_done)
    try:
        return await work
    except asyncio.CancelledError:
        if departed and task.uncancel() == 0:  # cancelled by the watcher alone
            ctx.outcome = CLIENT_DISCONNECT
            raise ClientClosedRequest(
                "The client closed the connection before the answer."
            ) from None
        raise
    finally:
        watching = False
        watcher.cancel()
