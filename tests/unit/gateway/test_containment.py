"""No exception reaches the server: a failing request never breaks the next one on its connection.

Starlette's last resort answers 500 and re-raises, and uvicorn then closes the connection, so the
next request a proxy had already written on it fails. The gateway's outermost layer answers the
500 itself, in OpenAI's envelope, and keeps the connection open.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import orjson
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.servers import TEST_ACCESS, TEST_API_KEY, serving
from tests.support.waiting import wait_until


class Boom(RuntimeError):
    """The unexpected error a route raises on purpose."""


@pytest.fixture(scope="module")
def gateway_with_a_bug(fake_ollama_process: object) -> Iterator[tuple[str, int]]:
    """A real gateway with one extra route that raises an unexpected exception."""
    app: FastAPI = create_app(
        Settings(**TEST_ACCESS, ollama_url="http://127.0.0.1:9", log_level="WARNING")
    )

    @app.get("/v1/bug")
    async def bug() -> None:
        raise Boom("a bug")

    with serving(app) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a keep-alive socket and read one whole response (Content-Length)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _get(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TEST_API_KEY}\r\n"
        "X-Request-ID: trace-bug-1\r\n\r\n"
    ).encode()


def test_an_unexpected_error_is_a_500_envelope_and_the_connection_stays_usable(
    gateway_with_a_bug: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="gateway.errors"),
        socket.create_connection(gateway_with_a_bug, timeout=30) as sock,
    ):
        for _ in range(3):
            status, headers, body = _exchange(sock, _get("/v1/bug"))
            assert status == 500
            assert headers["content-type"] == "application/json"
            assert headers["x-request-id"] == "trace-bug-1"
            error = orjson.loads(body)["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "internal_error"
            assert "trace-bug-1" in error["message"]
            # The innocent request that follows on the same connection is served.
            status, _, body = _exchange(sock, _get("/health/live"))
            assert status == 200
    tracebacks = [r for r in caplog.records if r.exc_info and r.exc_info[0] is Boom]
    assert len(tracebacks) == 3  # logged once per failing request
    assert all(r.__dict__.get("request_id") == "trace-bug-1" for r in tracebacks)


def test_a_client_that_leaves_mid_body_is_no_unexpected_error(
    gateway_with_a_bug: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TEST_API_KEY}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    with caplog.at_level(logging.INFO, logger="gateway"):
        with socket.create_connection(gateway_with_a_bug, timeout=30) as leaving:
            leaving.sendall(head + b'{"model": "gpt-oss-20b", "mess')
        with socket.create_connection(gateway_with_a_bug, timeout=30) as sock:
            # The request log line of the departed client comes before this one is served.
            wait_until(lambda: _departed(caplog), "the departed request logged")
            status, _, _ = _exchange(sock, _get("/health/live"))
    assert status == 200
    assert not [r for r in caplog.records if r.name == "gateway.errors"]


def _departed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.name == "gateway.access" and r.__dict__.get("outcome") == "client_disconnect"
        for r in caplog.records
    )
