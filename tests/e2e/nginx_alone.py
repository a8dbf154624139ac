"""The nginx image run on its own (no gateway behind it): build, run, certificates, raw HTTP.

Its upstream points at nothing (``gateway`` resolves to the container itself, where nothing
listens on 8000), so whatever it would proxy answers 502; everything nginx answers by itself
(``/nginx-health``, its own error pages, TLS) is tested without the stack.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.stack import IMAGE_PREFIX, REPO_ROOT, wait_until

# Built by the session's ``up --build`` (compose names it so).
STACK_NGINX_IMAGE = f"{IMAGE_PREFIX}/nginx:local"
# Built by :func:`build_nginx_image` from the same directory, for tests that need no stack.
ALONE_NGINX_IMAGE = f"{IMAGE_PREFIX}/nginx:alone"


def build_nginx_image(tag: str = ALONE_NGINX_IMAGE) -> str:
    """Build nginx/ FROM ``$NGINX_IMAGE`` (as compose does) under ``tag``; returns the tag."""
    base = os.environ.get("NGINX_IMAGE", "nginx:1.28")
    result = subprocess.run(
        ["docker", "build", "-q", "--build-arg", f"NGINX_IMAGE={base}", "-t", tag, "nginx"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} (NGINX_IMAGE={base}) failed:\n{result.stderr[-4000:]}")
    return tag


def self_signed_certificate(directory: Path) -> Path:
    """Write a self-signed ``tls.crt``/``tls.key`` for 127.0.0.1 into ``directory``."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt"),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    for name in ("tls.crt", "tls.key"):
        (directory / name).chmod(0o644)  # readable by nginx inside the container
    return directory


@dataclass(frozen=True)
class Nginx:
    """A running nginx container and its published ports ({container port: host port})."""

    container: str
    ports: dict[int, int]

    def url(self, path: str, port: int = 80) -> str:
        """URL of ``path`` through the host port published for ``port``."""
        scheme = "https" if port == 443 else "http"
        return f"{scheme}://127.0.0.1:{self.ports[port]}{path}"

    def logs(self) -> str:
        """The container's output so far (for failure messages)."""
        result = subprocess.run(
            ["docker", "logs", "--tail=100", self.container],
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        return result.stdout + result.stderr


@contextmanager
def nginx_container(image: str, *docker_args: str) -> Iterator[Nginx]:
    """Run the image on its own (its upstream points at nothing) until the block ends."""
    started = subprocess.run(
        [
            "docker", "run", "-d", "--add-host", "gateway:127.0.0.1",
            "-p", "127.0.0.1::80", "-p", "127.0.0.1::443", *docker_args, image,
        ],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    container = started.stdout.strip()
    try:
        ports = {port: host_port(container, port) for port in (80, 443)}
        wait_until(
            lambda: _healthy(f"http://127.0.0.1:{ports[80]}/nginx-health"),
            timeout=60,
            what="nginx to answer /nginx-health",
        )
        yield Nginx(container, ports)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def host_port(container: str, port: int) -> int:
    """The 127.0.0.1 port docker published for the container's ``port``."""
    result = subprocess.run(
        ["docker", "port", container, f"{port}/tcp"], capture_output=True, text=True, check=True
    )
    return int(result.stdout.splitlines()[0].rsplit(":", 1)[1])


def _healthy(url: str) -> bool | None:
    try:
        return True if httpx.get(url, timeout=2).status_code == 200 else None
    except httpx.TransportError:
        return None


@dataclass(frozen=True)
class Answer:
    """One HTTP/1.1 response read off a raw socket (header names lower-cased)."""

    status: int
    headers: dict[str, str]
    body: bytes


class RawClient:
    """Exact bytes over one TCP connection, one response read back at a time (bounded waits).

    For requests no HTTP library would send: bad framing, bad bytes in names and values,
    unknown methods and versions.
    """

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""
        self.closed_by_server = False

    def close(self) -> None:
        """Close our side."""
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Write ``data`` as is (the server may already have closed: that is no error here)."""
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False once the server has closed (or the deadline passed)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed_by_server:
            return False
        readable, _, _ = select.select([self.sock], [], [], remaining)
        if not readable:
            return False
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.closed_by_server = True
            return False
        self._buffer += chunk
        return True

    def response(self, *, head_only: bool = False) -> Answer:
        """The next response (its body delimited by Content-Length, or by the server closing)."""
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill(deadline):
                raise AssertionError(f"no complete response head; received {self._buffer!r}")
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", "-1"))
        if length < 0:  # delimited by close
            while self._fill(deadline):
                pass
            length = len(rest) if self.closed_by_server else -1
        while len(rest) < length and self._fill(deadline):
            rest = self._buffer.partition(b"\r\n\r\n")[2]
        if length < 0 or len(rest) < length:
            raise AssertionError(f"response body incomplete: {self._buffer!r}")
        self._buffer = rest[length:]
        return Answer(int(status_line.split(" ")[1]), headers, rest[:length])

    def wait_closed(self) -> bytes:
        """Wait (bounded) until the server closes; returns whatever it sent before."""
        deadline = time.monotonic() + self.timeout
        while self._fill(deadline):
            pass
        if not self.closed_by_server:
            raise AssertionError(f"the server kept the connection open for {self.timeout:g} s")
        return self._buffer
