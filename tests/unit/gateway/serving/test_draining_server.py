"""A leaving server never closes a connection under a request the client already sent.

The server (``DrainingServer`` + ``DrainingHttpToolsProtocol``, what every gateway worker runs)
serves a small ASGI app in a thread; raw sockets play the client (nginx) so that the test sees
exactly what goes over the wire: ``Connection: close`` or not, and when the server closes.
Stock uvicorn closes an idle keep-alive connection the moment it starts leaving; here a request
sent on it afterwards is still answered.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from uvicorn.config import Config

from gateway.serving.protocol import DrainingHttpToolsProtocol
from gateway.serving.worker import DrainingServer
from tests.support.servers import free_port
from tests.support.waiting import wait_until

# What the test client waits for an answer that should come at once (busy machine: generous).
PATIENCE = 30.0


@dataclass
class Gates:
    """Lets the test hold a request inside the app and release it when it wants."""

    entered: dict[str, threading.Event] = field(default_factory=dict)
    release: dict[str, threading.Event] = field(default_factory=dict)

    def pair(self, name: str) -> tuple[threading.Event, threading.Event]:
        """The (entered, release) events of the request path ``/<name>``."""
        return (
            self.entered.setdefault(name, threading.Event()),
            self.release.setdefault(name, threading.Event()),
        )


def make_app(gates: Gates):  # type: ignore[no-untyped-def]  # ASGI callables are untyped here
    """``/ok`` answers at once; ``/hold-<x>`` answers once released; ``/stream-<x>`` sends its
    headers and a first chunk, and the last chunk once released."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        path: str = scope["path"]
        name = path.strip("/")
        if path.startswith("/hold-"):
            entered, release = gates.pair(name)
            entered.set()
            await asyncio.to_thread(release.wait, PATIENCE)
        if path.startswith("/stream-"):
            entered, release = gates.pair(name)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first;", "more_body": True})
            entered.set()
            await asyncio.to_thread(release.wait, PATIENCE)
            await send({"type": "http.response.body", "body": b"last"})
            return
        body = b"ok"
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass
class Running:
    """A draining server in a thread, and what it told the master."""

    server: DrainingServer
    thread: threading.Thread
    port: int
    heartbeats: list[float]
    leaves: list[float]

    def leave(self) -> None:
        """What SIGTERM or max_requests does: the main loop ends, the shutdown starts."""
        self.server.should_exit = True
        wait_until(lambda: self.server.server_state.draining, "the server to start draining")

    def connect(self) -> socket.socket:
        """A client connection (blocking, with a generous timeout)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE)


@contextmanager
def draining_server(gates: Gates, keep_alive: float = 60.0) -> Iterator[Running]:
    """Serve :func:`make_app` with the gateway's draining server on a free port."""
    port = free_port()
    heartbeats: list[float] = []
    leaves: list[float] = []

    async def notify() -> None:
        heartbeats.append(time.monotonic())

    config = Config(
        make_app(gates),
        host="127.0.0.1",
        port=port,
        http=DrainingHttpToolsProtocol,
        loop="asyncio",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=int(keep_alive),
        callback_notify=notify,
        timeout_notify=3600,
        timeout_graceful_shutdown=int(PATIENCE * 2),
    )
    server = DrainingServer(config, on_leave=lambda: leaves.append(time.monotonic()))
    thread = threading.Thread(target=server.run, name=f"draining-{port}", daemon=True)
    thread.start()
    running = Running(server, thread, port, heartbeats, leaves)
    wait_until(lambda: server.started, "the server to start")
    try:
        yield running
    finally:
        server.should_exit = server.force_exit = True
        for gate in gates.release.values():
            gate.set()
        thread.join(PATIENCE)


def request(path: str) -> bytes:
    """A keep-alive HTTP/1.1 GET."""
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the response head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in lines[1:])
    }
    return int(lines[0].split()[1]), headers, rest


def read_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    """Read until ``marker`` is in what was received (starting with ``data``)."""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data!r}")
        data += chunk
    return data


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole response (Content-Length or chunked)."""
    status, headers, body = read_head(sock)
    if headers.get("transfer-encoding") == "chunked":
        body = read_until(sock, body, b"0\r\n\r\n")
    else:
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside the body")
            body += chunk
    return status, headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF), waiting generously for it."""
    sock.settimeout(PATIENCE)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_request_sent_on_an_idle_connection_after_leaving_began_is_answered() -> None:
    gates = Gates()
    with draining_server(gates) as running, running.connect() as idle, running.connect() as busy:
        idle.sendall(request("/ok"))
        status, headers, _ = read_response(idle)
        assert (status, headers.get("connection")) == (200, None)  # kept alive, now idle
        busy.sendall(request("/hold-a"))  # keeps the server draining while the test looks
        gates.pair("hold-a")[0].wait(PATIENCE)

        running.leave()
        idle.sendall(request("/ok"))  # stock uvicorn has closed this connection by now
        status, headers, body = read_response(idle)

        assert (status, body) == (200, b"ok")
        assert headers["connection"] == "close"
        assert closed_by_server(idle)
        assert running.leaves, "the master was not told"


def test_a_request_in_flight_finishes_and_its_answer_closes_the_connection() -> None:
    gates = Gates()
    with draining_server(gates) as running, running.connect() as sock:
        entered, release = gates.pair("hold-b")
        sock.sendall(request("/hold-b"))
        assert entered.wait(PATIENCE)

        running.leave()
        release.set()
        status, headers, body = read_response(sock)

        assert (status, body) == (200, b"ok")
        assert headers["connection"] == "close"
        assert closed_by_server(sock)
        running.thread.join(PATIENCE)
        assert not running.thread.is_alive(), "the server did not exit once drained"


def test_a_stream_under_way_ends_as_it_began_then_the_next_request_gets_close() -> None:
    gates = Gates()
    with draining_server(gates) as running, running.connect() as sock:
        entered, release = gates.pair("stream-c")
        sock.sendall(request("/stream-c"))
        status, headers, body = read_head(sock)
        assert entered.wait(PATIENCE)
        assert headers.get("connection") is None  # its headers promised keep-alive

        running.leave()
        release.set()
        body = read_until(sock, body, b"0\r\n\r\n")
        assert b"first;" in body
        assert b"last" in body
        # The response said keep-alive, so closing right after it would race the client's
        # next request: the connection stays, and that request is answered with close.
        sock.sendall(request("/ok"))
        status, headers, body = read_response(sock)

        assert (status, body, headers["connection"]) == (200, b"ok", "close")
        assert closed_by_server(sock)


def test_idle_connections_are_closed_after_the_keep_alive_timeout_then_the_server_exits() -> None:
    gates = Gates()
    with draining_server(gates, keep_alive=1) as running:
        with running.connect() as used, running.connect() as never_used:
            used.sendall(request("/ok"))
            read_response(used)

            running.leave()

            assert closed_by_server(used)
            assert closed_by_server(never_used)
        running.thread.join(PATIENCE)
        assert not running.thread.is_alive()


def test_the_master_hears_a_heartbeat_while_connections_drain() -> None:
    gates = Gates()
    with draining_server(gates) as running, running.connect() as sock:
        sock.sendall(request("/ok"))
        read_response(sock)  # an idle connection: the server waits for it
        running.leave()
        started = len(running.heartbeats)

        wait_until(lambda: len(running.heartbeats) >= started + 2, "two heartbeats while draining")


def test_a_connection_accepted_while_leaving_is_served_once_or_timed_out() -> None:
    # The window the listening socket's close leaves: a connection accepted just before it, seen
    # by the server only after its connections were told to drain.
    gates = Gates()
    with draining_server(gates, keep_alive=1) as running:
        running.server.server_state.draining = True
        with running.connect() as used, running.connect() as silent:
            used.sendall(request("/ok"))
            status, headers, _ = read_response(used)

            assert (status, headers["connection"]) == (200, "close")
            assert closed_by_server(used)
            assert closed_by_server(silent)
