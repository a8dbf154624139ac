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

    Call only after the request body has been read (FastAPI reads it before the handler runs).
    """
    work_task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({work_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not watcher.done():
            watcher.cancel()
    if work_task.done():
        return work_task.result()
    work_task.cancel()
    await asyncio.wait({work_task})  # let its cleanup (closing the upstream request) run
    raise ClientDisconnected
