"""A trailing slash is served like the path without it, never redirected (no Docker)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.routes.trailing_slash import TrailingSlashMiddleware


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_chat_completion_with_a_trailing_slash_is_served(
    gateway_url: str, gateway_api_key: str
) -> None:
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "ping"}]}

    response = httpx.post(
        f"{gateway_url}/v1/chat/completions/", json=body, headers=_auth(gateway_api_key), timeout=30
    )

    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert response.json()["object"] == "chat.completion"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/models/", "list"),
        ("/v1/models//", "list"),
        ("/v1/models/gpt-oss:20b/", "model"),
    ],
)
def test_reads_with_trailing_slashes_are_served(
    gateway_url: str, gateway_api_key: str, path: str, expected: str
) -> None:
    response = httpx.get(f"{gateway_url}{path}", headers=_auth(gateway_api_key), timeout=30)

    assert response.status_code == 200, response.text
    assert response.json()["object"] == expected


def test_public_route_with_a_trailing_slash_needs_no_key(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/health/live/", timeout=30)

    assert response.status_code == 200, response.text


def test_unknown_path_with_a_trailing_slash_is_a_404_envelope_not_a_redirect(
    gateway_url: str, gateway_api_key: str
) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/no-such-route/", json={}, headers=_auth(gateway_api_key), timeout=30
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "not_found_error"


def _seen_by_inner_app(scope: Scope) -> Scope:
    """The scope the wrapped app receives for ``scope``."""
    seen: list[Scope] = []

    async def inner(inner_scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(inner_scope)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        return None

    asyncio.run(TrailingSlashMiddleware(inner)(scope, receive, send))
    return seen[0]


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/v1/chat/completions/", "/v1/chat/completions"),
        ("/v1/models///", "/v1/models"),
        ("/v1/models", "/v1/models"),
        ("/", "/"),
        ("//", "/"),
    ],
)
def test_middleware_strips_path_and_raw_path(path: str, served: str) -> None:
    scope: Scope = {"type": "http", "path": path, "raw_path": path.encode()}

    inner = _seen_by_inner_app(scope)

    assert (inner["path"], inner["raw_path"]) == (served, served.encode())
    assert scope["path"] == path, "the caller's scope is left as it was"
