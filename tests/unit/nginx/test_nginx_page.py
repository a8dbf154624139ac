"""The page at / and /ui/: static files from nginx/www, with a policy of their own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.local_nginx import running_nginx
from tests.support.servers import free_port

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """nginx serving the page, with no gateway behind it."""
    with running_nginx(f"127.0.0.1:{free_port()}", tmp_path) as base:
        yield base


@pytest.mark.parametrize("path", ["/", "/ui/", "/ui/index.html"])
def test_the_page_is_served_at(url: str, path: str) -> None:
    page = httpx.get(url + path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe" not in policy
    assert page.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(("path", "kind"), [("/ui/app.js", "javascript"), ("/ui/app.css", "css")])
def test_the_pages_files_load_nothing_from_elsewhere(url: str, path: str, kind: str) -> None:
    asset = httpx.get(url + path)
    assert asset.status_code == 200
    assert kind in asset.headers["content-type"]
    assert "http://" not in asset.text
    assert "https://" not in asset.text


def test_the_api_keeps_its_strict_policy(url: str) -> None:
    down = httpx.get(url + "/v1/models")
    assert down.headers["content-security-policy"] == API_POLICY
