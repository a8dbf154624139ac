"""ConnectionStack: connections to Ollama are reused, bounded, expired and closed like a pool's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from fake_ollama.testing import free_port
from gateway.upstream.pool import ConnectionStack
from tests.support.waiting import PATIENCE


@dataclass
class Server:
    """A keep-alive HTTP/1.1 server on loopback that counts connections and answers ``ok``."""

    url: str = ""
    delay: float = 0.0
    opened: int = 0
    closed: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        await reader.readexactly(int(value))
                await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            self.closed += 1
            writer.close()
            async with self.changed:
                self.changed.notify_all()


@asynccontextmanager
async def serving(delay: float = 0.0) -> AsyncIterator[Server]:
    server = Server(delay=delay)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield server


def client(server_url: str, stack: ConnectionStack, pool_timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server_url, transport=stack, timeout=httpx.Timeout(5.0, pool=pool_timeout)
    )


async def settle(server: Server, closed: int) -> None:
    """Wait until the server has seen ``closed`` connections close (retired ones close in the
    background); the deadline only bounds a failing test."""
    async with asyncio.timeout(PATIENCE), server.changed:
        await server.changed.wait_for(lambda: server.closed >= closed)


async def test_one_request_after_another_uses_one_connection() -> None:
    async with serving() as server:
        async with client(server.url, ConnectionStack(max_connections=8)) as http:
            for _ in range(5):
                assert (await http.get("/api/version")).text == "ok"
        assert server.opened == 1


async def test_concurrent_requests_open_connections_that_are_reused_later() -> None:
    async with serving(delay=0.05) as server:
        async with client(server.url, ConnectionStack(max_connections=8)) as http:
            await asyncio.gather(*(http.get("/api/ps") for _ in range(3)))
            for _ in range(3):
                await http.get("/api/ps")
        assert server.opened == 3


async def test_beyond_max_connections_a_request_waits_for_one_to_come_back() -> None:
    async with serving(delay=0.05) as server:
        async with client(server.url, ConnectionStack(max_connections=1)) as http:
            answers = await asyncio.gather(*(http.get("/api/ps") for _ in range(3)))
        assert [a.text for a in answers] == ["ok"] * 3
        assert server.opened == 1


async def test_no_connection_coming_back_within_the_pool_timeout_is_a_pool_timeout() -> None:
    async with serving() as server:
        stack = ConnectionStack(max_connections=1)
        async with client(server.url, stack, pool_timeout=0.1) as http:
            async with http.stream("GET", "/api/ps"):  # holds the only connection
                with pytest.raises(httpx.PoolTimeout):
                    await http.get("/api/ps")
            assert (await http.get("/api/ps")).text == "ok"  # given back when closed


async def test_a_failed_request_gives_its_slot_back() -> None:
    closed_port = f"http://127.0.0.1:{free_port()}"
    async with client(closed_port, ConnectionStack(max_connections=1), pool_timeout=0.1) as http:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await http.get("/api/ps")


async def test_connections_idle_longer_than_the_keepalive_expiry_are_closed() -> None:
    async with serving(delay=0.05) as server:
        stack = ConnectionStack(max_connections=4, keepalive_expiry=0.1)
        async with client(server.url, stack) as http:
            await asyncio.gather(*(http.get("/api/ps") for _ in range(2)))
            await asyncio.sleep(0.3)
            await http.get("/api/ps")  # both idle ones are closed, not only the one reused
            await settle(server, closed=2)
            assert (server.opened, server.closed) == (3, 2)


async def test_closing_the_stack_closes_its_connections() -> None:
    async with serving(delay=0.05) as server:
        async with client(server.url, ConnectionStack(max_connections=4)) as http:
            await asyncio.gather(*(http.get("/api/ps") for _ in range(2)))
        await settle(server, closed=2)
        assert (server.opened, server.closed) == (2, 2)


async def test_a_connection_whose_close_was_interrupted_is_not_reused() -> None:
    # Cancelled again while its response closes, a request can leave its connection held by the
    # pool under it; reused, that transport would make the next request wait for nothing.
    async with serving() as server:
        async with client(server.url, ConnectionStack(max_connections=4), pool_timeout=0.5) as http:

            async def read_slowly(reading: asyncio.Event) -> None:
                async with http.stream("GET", "/api/ps") as response:
                    async for _ in response.aiter_raw():
                        reading.set()
                        await asyncio.sleep(PATIENCE)

            for _ in range(3):
                reading = asyncio.Event()
                task = asyncio.create_task(read_slowly(reading))
                await reading.wait()  # the response is being read
                task.cancel()
                await asyncio.sleep(0)
                task.cancel()  # lands while the response is being closed
                with pytest.raises(asyncio.CancelledError):
                    await task
            answers = await asyncio.gather(*(http.get("/api/ps") for _ in range(4)))
        assert [a.text for a in answers] == ["ok"] * 4
