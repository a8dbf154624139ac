"""One HTTP/1.1 connection to Ollama, as an httpx transport parsed in C by httptools.

httpx's own transport (httpcore over h11, both pure Python) cost about 0.4 ms of CPU per call to
Ollama, a third of the gateway's CPU per request (py-spy, ``make bench``). This connection does
the same work with an :class:`asyncio.Protocol` and httptools' parser (llhttp, the parser uvicorn
uses for the gateway's own requests): it writes the request httpx built, parses the answer as
the bytes arrive, and hands httpx a streaming body. Everything above it stays httpx's: the
client, its URL and header handling, content decoding, exceptions.

It serves one request at a time (:class:`~gateway.upstream.pool.ConnectionStack` holds many) and
says whether it can carry the next one: only once the whole answer is in and both sides keep the
connection alive; never after an error, a body closed before its end, or a close by Ollama while
it was idle (which the protocol hears at once, so a request is never written on a connection
known to be dead). Failures raise the exceptions
httpx's transport would: ``ConnectError``/``ConnectTimeout`` before anything was sent,
``ReadError``, ``RemoteProtocolError``, ``ReadTimeout``, ``WriteTimeout`` after.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

#: Body bytes parsed but not yet read at which the socket stops being read (flow control).
PAUSE_READING_AT = 256 * 1024
RESUME_READING_AT = 64 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}
CHUNKED = b"chunked"


class _ResponseProtocol(asyncio.Protocol):
    """The socket's side: feeds what arrives to the parser, buffers the body, wakes the reader."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.body: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.expect_answer()

    def expect_answer(self) -> None:
        """Forget the previous answer: a new request is about to be sent."""
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_complete = False
        self.message_complete = False
        self.delimited_by_close = False  # neither Content-Length nor chunked: ends at EOF
        self.keep_alive = False
        self.body.clear()
        self.buffered = 0
        self.error: httpx.TransportError | None = None

    # ---- the connection's events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write on."""
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's always is

    def data_received(self, data: bytes) -> None:
        """Parse what arrived; pause reading while the reader is far behind."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Ollama's answer is not valid HTTP: {exc}"))
            return
        if self.buffered > PAUSE_READING_AT and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """Ollama closed its side: let the transport close ours too."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection closed: an answer still owed becomes an error."""
        self.lost = True
        if self.headers_complete and self.delimited_by_close and not self.message_complete:
            self.message_complete = True  # such a body ends with the connection
        elif not self.message_complete and self.error is None:
            cause = f" ({exc})" if exc else ""
            self.error = (
                httpx.ReadError(f"Ollama closed the connection in the middle of its answer{cause}")
                if self.headers_complete
                else httpx.RemoteProtocolError(
                    f"Ollama closed the connection without sending an answer{cause}"
                )
            )
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        """The socket's send buffer is full: writers wait for :meth:`resume_writing`."""
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The send buffer has room again."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # ---- the parser's callbacks (httptools calls them by name)
    def on_header(self, name: bytes, value: bytes) -> None:
        """One header line of the answer."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is in: its status, and how the body is delimited."""
        self.status = self.parser.get_status_code()
        self.headers_complete = True
        names = {name.lower(): value for name, value in self.headers}
        self.delimited_by_close = (
            b"content-length" not in names
            and CHUNKED not in names.get(b"transfer-encoding", b"").lower()
            and self.status >= 200
            and self.status not in (204, 304)
        )

    def on_body(self, body: bytes) -> None:
        """A piece of the body (chunked framing already removed)."""
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        """The whole answer is in."""
        self.message_complete = True
        self.keep_alive = self.parser.should_keep_alive()  # known only until the parser resets

    # ---- the reader's side
    def _fail(self, error: httpx.TransportError) -> None:
        self.error = error
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, within: float | None) -> None:
        """Until something more arrives (or the connection closes), at most ``within`` s."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                await self._waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout("Ollama sent nothing within the read timeout") from exc
        finally:
            self._waiter = None

    async def drain(self, within: float | None) -> None:
        """Until the send buffer has room, at most ``within`` s."""
        if self._drained is None:
            return
        try:
            async with asyncio.timeout(within):
                await self._drained
        except TimeoutError as exc:
            raise httpx.WriteTimeout("Ollama did not take the request in time") from exc

    def take_body(self) -> bytes:
        """Every body byte parsed so far, as one piece."""
        data = self.body.popleft() if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.transport is not None and not self.lost:
            self.transport.resume_reading()
        return data


class _ResponseBody(httpx.AsyncByteStream):
    """The body of one answer, read from the connection as it arrives."""

    def __init__(
        self,
        connection: Http11Connection,
        protocol: _ResponseProtocol,
        read_timeout: float | None,
    ) -> None:
        self._connection = connection
        self._protocol = protocol
        self._read_timeout = read_timeout

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Each piece as it arrives (several pieces that arrived together come as one)."""
        return self

    async def __anext__(self) -> bytes:
        """The next piece of the body; ``StopAsyncIteration`` at its end."""
        protocol = self._protocol
        while True:
            if protocol.buffered:
                return protocol.take_body()
            if protocol.message_complete:
                raise StopAsyncIteration
            if protocol.error is not None:
                raise protocol.error
            await protocol.wait(self._read_timeout)

    async def aclose(self) -> None:
        """Done with the answer: a connection that cannot carry the next request is closed."""
        self._connection.release()


class Http11Connection(httpx.AsyncBaseTransport):
    """One keep-alive HTTP/1.1 connection, opened by its first request, one request at a time."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self.protocol: _ResponseProtocol | None = None

    @property
    def reusable(self) -> bool:
        """Whether the next request may be sent on this connection: not opened yet, or at the
        end of a whole answer that both sides keep alive, and still open."""
        protocol = self.protocol
        if protocol is None:
            return True
        transport = protocol.transport
        return (
            protocol.message_complete
            and protocol.keep_alive  # False for HEAD and for a body that ended with the connection
            and not protocol.lost
            and transport is not None
            and not transport.is_closing()
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its answer once the head arrived (the body streams)."""
        timeouts = request.extensions.get("timeout", {})
        protocol = self.protocol
        if protocol is None:
            protocol = self.protocol = await self._connect(request, timeouts.get("connect"))
        elif not self.reusable:
            raise httpx.ConnectError("this connection to Ollama cannot be reused", request=request)
        else:
            protocol.expect_answer()  # not reusable again until this answer is whole
        try:
            await self._send(protocol, request, timeouts.get("write"))
            while not protocol.headers_complete:
                if protocol.error is not None:
                    raise protocol.error
                await protocol.wait(timeouts.get("read"))
        except httpx.TransportError as exc:
            exc.request = request
            self.close()
            raise
        if request.method == "HEAD":  # its head announces a body that never comes
            protocol.message_complete = True
        return httpx.Response(
            status_code=protocol.status,
            headers=protocol.headers,
            stream=_ResponseBody(self, protocol, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _connect(self, request: httpx.Request, within: float | None) -> _ResponseProtocol:
        url = request.url
        host = url.raw_host.decode("ascii")
        port = url.port or DEFAULT_PORTS.get(url.raw_scheme, 80)
        secure = url.raw_scheme == b"https"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, protocol = await loop.create_connection(
                    _ResponseProtocol,
                    host,
                    port,
                    ssl=self._ssl_context if secure else None,
                    server_hostname=host if secure else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return protocol

    async def _send(
        self, protocol: _ResponseProtocol, request: httpx.Request, within: float | None
    ) -> None:
        stream = request.stream
        if isinstance(stream, httpx.AsyncByteStream):
            body = b"".join([part async for part in stream])
        else:
            body = b"".join(stream)
        chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        if chunked and body:
            body = b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
        elif chunked:
            body = b"0\r\n\r\n"
        lines = [b"%b %b HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
        lines.extend(b"%b: %b" % (name, value) for name, value in request.headers.raw)
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if protocol.lost or protocol.transport is None:
            raise httpx.ConnectError("Ollama closed this connection before the request")
        protocol.transport.writelines((head, body))
        await protocol.drain(within)

    def release(self) -> None:
        """The answer was closed: a connection that cannot carry the next request is closed."""
        if not self.reusable:
            self.close()

    def close(self) -> None:
        """Close the socket (at once; nothing is owed to Ollama)."""
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()

    async def aclose(self) -> None:
        """Close the socket."""
        self.close()
