"""CORS through nginx: the gateway's answers pass untouched, nginx's own errors get the headers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.local_nginx import running_nginx
from tests.support.servers import free_port

WEB_APP = "http://chat.lan:3000"
STRANGER = "http://evil.example"
PREFLIGHT = {
    "Origin": WEB_APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def cors_headers(response: httpx.Response) -> dict[str, list[str]]:
    """Every CORS header of ``response`` with all its values (a duplicate breaks browsers)."""
    names = {name for name in response.headers if name.startswith("access-control-")}
    return {name: response.headers.get_list(name) for name in names}


def test_the_gateways_preflight_passes_through_once(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    gateway = gateway_factory(cors_origins=WEB_APP).removeprefix("http://")
    with running_nginx(gateway, tmp_path, GATEWAY_CORS_ORIGINS=WEB_APP) as url:
        response = httpx.options(url + "/v1/chat/completions", headers=PREFLIGHT)
    assert response.status_code == 204
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == [WEB_APP]
    assert headers["access-control-allow-headers"] == ["authorization,content-type"]
    assert all(len(values) == 1 for values in headers.values()), headers


def test_nginx_errors_are_readable_by_an_allowed_origin_only(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    """413 (body over nginx's limit) answered by nginx itself, read from two origins."""
    gateway = gateway_factory(cors_origins=WEB_APP).removeprefix("http://")
    body = b"x" * 2_000_000
    with running_nginx(gateway, tmp_path, GATEWAY_CORS_ORIGINS=f"{WEB_APP}/") as url:
        chat = url + "/v1/chat/completions"
        allowed = httpx.post(chat, content=body, headers={"Origin": WEB_APP})
        other = httpx.post(chat, content=body, headers={"Origin": STRANGER})
    assert allowed.status_code == other.status_code == 413
    assert allowed.json()["error"]["code"] == "request_too_large"
    assert cors_headers(allowed)["access-control-allow-origin"] == [WEB_APP]
    assert "retry-after" in allowed.headers["access-control-expose-headers"]
    assert "Origin" in allowed.headers.get_list("vary")
    assert cors_headers(other) == {}


def test_gateway_down_is_readable_by_any_origin_when_star(tmp_path: Path) -> None:
    """Nothing listens upstream: nginx's 502, with ``*`` as configured."""
    with running_nginx(f"127.0.0.1:{free_port()}", tmp_path, GATEWAY_CORS_ORIGINS="*") as url:
        down = httpx.get(url + "/v1/models", headers={"Origin": STRANGER})
    assert down.status_code == 502
    assert down.json()["error"]["code"] == "gateway_unavailable"
    assert cors_headers(down)["access-control-allow-origin"] == ["*"]
    assert "vary" not in down.headers


def test_cors_off_adds_nothing(tmp_path: Path) -> None:
    with running_nginx(f"127.0.0.1:{free_port()}", tmp_path, GATEWAY_CORS_ORIGINS="") as url:
        down = httpx.get(url + "/v1/models", headers={"Origin": WEB_APP})
    assert down.status_code == 502
    assert cors_headers(down) == {}


@pytest.mark.parametrize("entry", ["chat.lan:3000", "http://chat.lan/app", "http://a b"])
def test_a_malformed_origin_stops_nginx_saying_what_to_write(tmp_path: Path, entry: str) -> None:
    with (
        pytest.raises(subprocess.CalledProcessError) as refused,
        running_nginx("127.0.0.1:1", tmp_path, GATEWAY_CORS_ORIGINS=entry),
    ):
        pass
    assert b"is not an origin: write scheme://host[:port]" in refused.value.stderr
