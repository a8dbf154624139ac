"""Helpers for the key, auth and rate-limit tests: a real redis-server, key files, requests."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.access.keys import KeyFile, KeyRecord, digest_of, utcnow, write_key_file
from tests.support.servers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A throw-away ``redis-server`` on a free loopback port; restartable. No persistence unless
    ``append_only`` (AOF in its directory, as compose runs it: a restart keeps the data)."""

    def __init__(self, *, append_only: bool = False) -> None:
        self.append_only = append_only
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="test-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers PING."""
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", self._dir.name]
        command += ["--appendonly", "yes" if self.append_only else "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def answers(self) -> bool:
        """True when the server replies +PONG to PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after 10 s) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped and removed afterwards."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


def key_record(secret: str, name: str, **fields: Any) -> KeyRecord:
    """A key-file record for ``secret`` (defaults: enabled, no overrides)."""
    return KeyRecord(
        id=f"key_{name}", name=name, sha256=digest_of(secret), created=utcnow(), **fields
    )


def write_keys(path: Path, *records: KeyRecord) -> None:
    """Replace the key file with these records."""
    write_key_file(path, KeyFile(keys=list(records)))


def bearer(key: str, **headers: str) -> dict[str, str]:
    """Headers carrying ``key`` as a bearer token (plus extra headers)."""
    return {"Authorization": f"Bearer {key}", **headers}


def fresh_get(url: str, path: str, key: str, **headers: str) -> httpx.Response:
    """One GET on its own connection (so that any gunicorn worker may take it)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return client.get(path, headers=bearer(key, **headers))
