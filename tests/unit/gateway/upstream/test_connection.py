"""Http11Connection: Ollama's answers parsed right, connections reused only when that is safe.

Each test runs a scripted HTTP/1.1 server on loopback that answers with exact bytes (chunked,
Content-Length, ``Connection: close``, broken or silent answers) and checks what the gateway's
httpx client makes of them through :class:`ConnectionStack` and :class:`Http11Connection`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fake_ollama.testing import free_port
from gateway.upstream.connection import PAUSE_READING_AT, Http11Connection
from gateway.upstream.pool import ConnectionStack
from tests.support.waiting import PATIENCE

Answer = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> bytes to send, or None


def chunked(*pieces: bytes) -> bytes:
    """A chunked body made of ``pieces``."""
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def ok(body: bytes, *headers: bytes) -> bytes:
    """A 200 with ``body`` and a Content-Length."""
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n" % len(body)
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


@dataclass
class Server:
    """Reads each request whole, records it, and writes what ``answer`` returns for it (then
    closes the connection if that was ``None``)."""

    answer: Answer
    url: str = ""
    opened: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    handlers: list[asyncio.Task[Any]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.writers.append(writer)
        if (task := asyncio.current_task()) is not None:
            self.handlers.append(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                lowered = head.lower()
                if b"content-length:" in lowered:
                    length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(length)
                elif b"transfer-encoding: chunked" in lowered:
                    while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:
                        body += (await reader.readexactly(size + 2))[:-2]
                    await reader.readexactly(2)
                self.requests.append((head, body))
                reply = self.answer(head, body)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            writer.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds; the deadline only bounds a failing test."""
    async with asyncio.timeout(PATIENCE):
        while not condition():  # noqa: ASYNC110 - polls state that the event loop changes
            await asyncio.sleep(0.01)


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[Server]:
    server = Server(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        try:
            yield server
        finally:  # every handler ends before the loop does (none is left to be cancelled)
            for writer in server.writers:
                writer.close()
            async with asyncio.timeout(PATIENCE):
                await asyncio.gather(*server.handlers, return_exceptions=True)


@asynccontextmanager
async def client(url: str, read: float | None = PATIENCE) -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(PATIENCE, read=read)
    stack = ConnectionStack(max_connections=4)
    async with httpx.AsyncClient(base_url=url, transport=stack, timeout=timeout) as http:
        yield http


async def test_a_chunked_stream_arrives_piece_by_piece_and_the_connection_is_reused() -> None:
    lines = [b'{"n":%d}\n' % i for i in range(5)]
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
    head += b"transfer-encoding: chunked\r\n\r\n"
    async with serving(lambda _h, _b: head + chunked(*lines)) as server, client(server.url) as http:
        for _ in range(3):
            async with http.stream("POST", "/api/chat", content=b'{"a":1}') as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/x-ndjson"
                assert b"".join([p async for p in response.aiter_bytes()]) == b"".join(lines)
    assert server.opened == 1
    assert [body for _, body in server.requests] == [b'{"a":1}'] * 3
    request_head = server.requests[0][0]
    assert request_head.startswith(b"POST /api/chat HTTP/1.1\r\n")
    assert b"content-length: 7" in request_head.lower()


async def test_status_headers_and_query_reach_the_caller_as_sent() -> None:
    answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: 19\r\nx-one: 1\r\nx-one: 2\r\n\r\n"
    answer += b'{"error":"missing"}'
    async with serving(lambda _h, _b: answer) as server, client(server.url) as http:
        response = await http.get("/api/show?name=x%20y")
    assert response.status_code == 404
    assert response.headers.get_list("x-one") == ["1", "2"]
    assert response.json() == {"error": "missing"}
    assert server.requests[0][0].startswith(b"GET /api/show?name=x%20y HTTP/1.1\r\n")


async def test_connection_close_from_ollama_means_a_new_connection_next_time() -> None:
    async with (
        serving(lambda _h, _b: ok(b"ok", b"connection: close")) as server,
        client(server.url) as http,
    ):
        for _ in range(3):
            assert (await http.get("/")).text == "ok"
    assert server.opened == 3


async def test_a_body_closed_before_its_end_is_never_reused() -> None:
    started = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n"

    def answer(head: bytes, _body: bytes) -> bytes:
        return started if head.startswith(b"POST") else ok(b"ok")  # a stream still going

    async with serving(answer) as server, client(server.url) as http:
        for _ in range(2):
            async with http.stream("POST", "/api/chat", content=b"{}") as response:
                async for _piece in response.aiter_bytes():
                    break  # the caller leaves: the rest of the answer is never read
        assert (await http.get("/")).status_code == 200
    assert server.opened == 3


async def test_an_idle_connection_ollama_closed_is_replaced_not_written_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Http11Connection] = []

    class Recorded(Http11Connection):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr("gateway.upstream.pool.Http11Connection", Recorded)
    async with serving(lambda _h, _b: ok(b"ok")) as server, client(server.url) as http:
        assert (await http.get("/")).text == "ok"
        assert made[0].reusable
        server.writers[0].close()  # Ollama's idle timeout
        await wait_until(lambda: not made[0].reusable)  # the EOF is heard, no request needed
        assert (await http.get("/")).text == "ok"
    assert server.opened == 2
    assert len(made) == 2
    assert len(server.requests) == 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/api/tags")


async def test_ollama_closing_before_answering_is_a_protocol_error() -> None:
    async with serving(lambda _h, _b: None) as server, client(server.url) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending an answer"):
            await http.post("/api/chat", content=b"{}")


async def test_ollama_closing_in_the_middle_of_a_body_is_a_read_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n"

    def answer(_head: bytes, _body: bytes) -> bytes:
        return cut

    async with (
        serving(answer) as server,
        client(server.url) as http,
        http.stream("POST", "/api/chat", content=b"{}") as response,
    ):
        pieces = response.aiter_bytes()
        assert await anext(pieces) == b"first\n"
        server.writers[0].close()
        with pytest.raises(httpx.ReadError, match="in the middle of its answer"):
            await anext(pieces)


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async with (
        serving(lambda _h, _b: b"SSH-2.0-OpenSSH\r\n\r\n") as server,
        client(server.url) as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="not valid HTTP"):
            await http.get("/")


async def test_silence_beyond_the_read_timeout_is_a_read_timeout() -> None:
    async with serving(lambda _h, _b: b"") as server, client(server.url, read=0.05) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/")


async def test_a_body_that_ends_with_the_connection_is_whole_and_not_reused() -> None:
    async with (
        serving(lambda _h, _b: b"HTTP/1.1 200 OK\r\n\r\nall of it") as server,
        client(server.url) as http,
    ):
        for turn in range(2):
            answered = asyncio.ensure_future(http.get("/"))
            await wait_until(lambda: len(server.requests) > turn)  # noqa: B023
            server.writers[turn].close()
            assert (await answered).text == "all of it"
    assert server.opened == 2


async def test_a_head_request_gets_its_headers_and_no_body() -> None:
    head_only = b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n"
    async with serving(lambda _h, _b: head_only) as server, client(server.url) as http:
        response = await http.head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == "17"
    assert response.content == b""


async def test_a_large_answer_read_slowly_arrives_whole() -> None:
    # Beyond PAUSE_READING_AT the connection stops reading the socket until the caller catches up.
    big = bytes(range(256)) * (3 * PAUSE_READING_AT // 256)
    async with serving(lambda _h, _b: ok(big)) as server, client(server.url) as http:
        received = bytearray()
        async with http.stream("GET", "/") as response:
            async for piece in response.aiter_bytes():
                received += piece
                await asyncio.sleep(0)
        assert bytes(received) == big
        assert (await http.get("/")).status_code == 200
    assert server.opened == 1


async def test_a_streamed_request_body_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"model":'
        yield b'"gpt-oss:20b"}'

    async with serving(lambda _h, _b: ok(b"ok")) as server, client(server.url) as http:
        assert (await http.post("/api/pull", content=parts())).text == "ok"
    head, body = server.requests[0]
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b'{"model":"gpt-oss:20b"}'


async def test_a_connection_that_cannot_be_reused_refuses_a_second_request() -> None:
    async with serving(lambda _h, _b: ok(b"ok", b"connection: close")) as server:
        connection = Http11Connection(httpx.create_ssl_context())
        async with httpx.AsyncClient(base_url=server.url, transport=connection) as http:
            assert (await http.get("/")).text == "ok"
            assert not connection.reusable
            with pytest.raises(httpx.ConnectError, match="cannot be reused"):
                await http.get("/")
