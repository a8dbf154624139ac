"""Waiting in tests without assuming a fast machine.

A test waits for an event or a condition, never for "long enough": a busy CI machine (two cores,
other jobs) can stall any thread or process for seconds. The deadline only bounds how long a
*failing* test takes to say so, hence generous. Nothing here measures how fast something was.

:func:`leaving_request` is a client that sends a request and goes away at a moment the test
chooses (when the block ends), instead of after a short client timeout that a slow machine can
reach before the request even got anywhere. :func:`ollama_held` keeps requests in flight at the
fake Ollama until the test lets them go, instead of hoping a slow generation lasts long enough.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from fake_ollama.testing import FakeOllamaProcess

T = TypeVar("T")

PATIENCE = 30.0
"""Seconds a test waits for something that should happen (at once, on an idle machine)."""


def wait_until(
    probe: Callable[[], T], what: str, timeout: float = PATIENCE, step: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something truthy and return that.

    Raises ``AssertionError`` naming ``what`` (and the last value seen) after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what} (last seen: {value!r})")
        time.sleep(step)


@contextmanager
def leaving_request(
    url: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Iterator[socket.socket]:
    """POST ``body`` as JSON to ``url`` on a raw connection; the client leaves when the block ends.

    Nothing is read: the test waits inside the block for what it needs to have happened (for
    example the request reaching the fake Ollama), and the connection closes on the way out.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = orjson.dumps(body)
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, port), timeout=PATIENCE) as sock:
        sock.sendall(head + payload)
        yield sock


@contextmanager
def ollama_held(fake: FakeOllamaProcess) -> Iterator[None]:
    """Keep the fake Ollama's only generation slot busy for the duration of the block.

    ``num_parallel`` becomes 1 and a request of the test's own takes the slot (its model "loads"
    for ten minutes); generations sent meanwhile queue at the fake, in flight for as long as the
    test needs. When the block ends the holder leaves and the queued ones run.
    """
    fake.configure(num_parallel=1)
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hold"}]}
    headers = {"X-Fake-First-Token-Delay": "600", "X-Request-ID": "slot-holder"}
    before = len(fake.requests("/api/chat"))
    with leaving_request(f"{fake.url}/api/chat", {**body, "stream": False}, headers):
        wait_until(lambda: len(fake.requests("/api/chat")) > before, "the slot holder at Ollama")
        yield
