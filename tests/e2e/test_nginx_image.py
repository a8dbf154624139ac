"""The nginx image on its own (as the stack built it): optional TLS and the /metrics allow list."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import IMAGE_PREFIX, Stack, wait_until

pytestmark = pytest.mark.e2e

NGINX_IMAGE = f"{IMAGE_PREFIX}/nginx:local"


@pytest.fixture(scope="module")
def nginx_image(stack: Stack) -> str:
    """The nginx image, built by the session's ``up --build``."""
    return NGINX_IMAGE


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A directory holding a self-signed tls.crt/tls.key for 127.0.0.1."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt"),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    for name in ("tls.crt", "tls.key"):
        (tmp_path / name).chmod(0o644)  # readable by nginx inside the container
    return tmp_path


@dataclass(frozen=True)
class Nginx:
    """A running nginx container and its published ports ({container port: host port})."""

    container: str
    ports: dict[int, int]

    def url(self, path: str, port: int = 80) -> str:
        """URL of ``path`` through the host port published for ``port``."""
        scheme = "https" if port == 443 else "http"
        return f"{scheme}://127.0.0.1:{self.ports[port]}{path}"


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
            timeout=30,
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


def test_https_is_served_when_a_certificate_is_mounted(nginx_image: str, certificate: Path) -> None:
    trust = ssl.create_default_context(cafile=str(certificate / "tls.crt"))

    with nginx_container(nginx_image, "-v", f"{certificate}:/etc/nginx/certs:ro") as nginx:
        response = httpx.get(nginx.url("/nginx-health", port=443), verify=trust)

    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-request-id"]


def test_https_stays_off_without_a_certificate(nginx_image: str) -> None:
    with nginx_container(nginx_image) as nginx:
        probe = subprocess.run(
            ["docker", "exec", nginx.container, "curl", "-sk", "https://127.0.0.1/nginx-health"],
            capture_output=True,
            check=False,
        )

    assert probe.returncode == 7, "curl: nothing listens on 443 inside the container"


def test_metrics_are_refused_outside_the_allow_list(nginx_image: str) -> None:
    with nginx_container(nginx_image, "-e", "METRICS_ALLOW=10.255.255.0/24") as nginx:
        response = httpx.get(nginx.url("/metrics"), timeout=5)

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_an_invalid_allow_list_stops_nginx_with_a_reason(nginx_image: str) -> None:
    result = subprocess.run(
        [
            "docker", "run", "--rm", "--add-host", "gateway:127.0.0.1",
            "-e", "METRICS_ALLOW=10.0.0.0/8 evil;", nginx_image,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "METRICS_ALLOW entry 'evil;' is not an address or CIDR" in result.stdout + result.stderr
