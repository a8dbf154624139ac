"""The connection pool towards Ollama: an httpx transport that reuses connections at O(1) cost.

httpcore's pool (httpcore 1.0) walks all of its connections several times per request, polling
each idle socket and counting the connections once per connection (encode/httpcore#1035): with
16 requests in flight that costs ~0.7 ms of CPU per request, more than the rest of the call.
:class:`ConnectionStack` keeps a stack of connections instead (each an
:class:`~gateway.upstream.connection.Http11Connection`, which parses HTTP in C). A request takes
the most recently used idle one (or a new one, up to ``max_connections``, waiting at most the
``pool`` timeout for one to come back) and gives it back when its response is closed.

A connection whose request failed, whose response was not read to its end, that said
``Connection: close``, or that Ollama closed while it was idle is never reused: it is closed in
the background and a fresh one takes its place.

Passed to the client as its transport, it also means that ``HTTP_PROXY``-style variables do not
apply to Ollama, which is reached directly (it is never behind a proxy).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import cast

import httpx

from gateway.upstream.connection import Http11Connection


class _ReleasingBody(httpx.AsyncByteStream):
    """A response body that gives its connection back to the stack, once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        """The body as the connection streams it (no extra layer per chunk)."""
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        """Close the body, then give the connection back."""
        release, self._release = self._release, None
        if release is None:
            return
        try:
            await self._stream.aclose()
        finally:
            release()


class ConnectionStack(httpx.AsyncBaseTransport):
    """Up to ``max_connections`` keep-alive connections to one Ollama.

    Idle connections are reused most recent first; those left idle longer than
    ``keepalive_expiry`` seconds are closed when the next request comes.
    """

    def __init__(self, *, max_connections: int, keepalive_expiry: float = 5.0) -> None:
        self._ssl_context = httpx.create_ssl_context()  # shared: each one loads the CA bundle
        self._keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[tuple[float, Http11Connection]] = deque()  # (idle since, connection)
        self._open: set[Http11Connection] = set()
        self._closing: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on an idle (or new) connection; it comes back when the body closes."""
        await self._take_slot(request)
        transport = self._checkout()
        try:
            response = await transport.handle_async_request(request)
        except BaseException:
            self._done_with(transport)
            raise
        body = cast(httpx.AsyncByteStream, response.stream)  # an async transport's always is
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingBody(body, partial(self._done_with, transport)),
            extensions=response.extensions,
        )

    async def _take_slot(self, request: httpx.Request) -> None:
        """Wait for a free connection slot, at most the request's ``pool`` timeout."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            return
        timeout = request.extensions.get("timeout", {}).get("pool")
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(
                "No connection to Ollama became free in time.", request=request
            ) from exc

    def _checkout(self) -> Http11Connection:
        """The most recently used idle connection, or a new one; retires those idle too long
        and those Ollama closed meanwhile."""
        now = time.monotonic()
        while self._idle and now - self._idle[0][0] > self._keepalive_expiry:
            self._retire(self._idle.popleft()[1])
        while self._idle:
            transport = self._idle.pop()[1]
            if transport.reusable:
                return transport
            self._retire(transport)
        transport = Http11Connection(self._ssl_context)
        self._open.add(transport)
        return transport

    def _done_with(self, transport: Http11Connection) -> None:
        """Free the request's slot; keep its connection for the next one, or retire it."""
        if transport in self._open:  # not closed by aclose() in the meantime
            if transport.reusable:
                self._idle.append((time.monotonic(), transport))
            else:
                self._retire(transport)
        self._slots.release()

    def _retire(self, transport: Http11Connection) -> None:
        """Forget ``transport`` and close its connection in the background."""
        self._open.discard(transport)
        closing = asyncio.ensure_future(transport.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every connection (idle or not) and wait for those being closed."""
        transports, self._open = self._open, set()
        self._idle.clear()
        for transport in transports:
            await transport.aclose()
        if self._closing:
            await asyncio.wait(self._closing)
