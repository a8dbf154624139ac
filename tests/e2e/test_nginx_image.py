"""The nginx image on its own (as the stack built it): optional TLS and the /metrics allow list."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.nginx_alone import STACK_NGINX_IMAGE, nginx_container, self_signed_certificate
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nginx_image(stack: Stack) -> str:
    """The nginx image, built by the session's ``up --build``."""
    return STACK_NGINX_IMAGE


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A directory holding a self-signed tls.crt/tls.key for 127.0.0.1."""
    return self_signed_certificate(tmp_path)


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
