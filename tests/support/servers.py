"""Run a real gateway (uvicorn, in a thread of the test process) on a free 127.0.0.1 port.

In-thread rather than a subprocess so that coverage sees the gateway code; every server is
stopped when its context exits.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import Settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers (any status) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout} s") from None
            time.sleep(0.02)


TEST_API_KEY = "sk-test-0123456789abcdef0123456789abcdef"
# Test gateways accept TEST_API_KEY, with no rate limits unless a test sets some.
TEST_ACCESS: dict[str, Any] = {
    "api_keys": TEST_API_KEY,
    "default_rpm": 0,
    "default_tpm": 0,
    "default_max_concurrent": 0,
    "auth_failure_limit": 0,
}


@contextmanager
def running_gateway(**overrides: Any) -> Iterator[str]:
    """Start ``create_app(Settings(**TEST_ACCESS, **overrides))`` under uvicorn; yield its URL."""
    with serving(create_app(Settings(**{**TEST_ACCESS, **overrides}))) as url:
        yield url


@contextmanager
def serving(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` under uvicorn (lifespan on) on ``port`` (default: a free one).

    Yields its base URL.
    """
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/health/live")
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
