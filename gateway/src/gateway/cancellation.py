"""Stop upstream work when the client goes away, for non-streaming calls.

Starlette cancels a streaming body iterator on disconnect by itself; a plain handler gets no such
signal, so it races its work against a task waiting for ``http.disconnect`` (vLLM's pattern).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was ready."""


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ClientDisconnected.

    ``work`` runs in the calling task (no task of its own to create and schedule); a watcher task
    waiting for ``http.disconnect`` cancels the calling task when the client leaves, so the
    cleanup of ``work`` (closing the upstream request) runs before ClientDisconnected is raised.
    Call only after the request body has been read (FastAPI reads it before the handler runs).
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("cancel_on_disconnect must be awaited from a task")
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
            raise ClientDisconnected from None
        raise
    finally:
        watching = False
        watcher.cancel()
