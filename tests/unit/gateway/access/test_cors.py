"""CORS for browser clients: preflights without a key, allow/expose headers on every answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from gateway.access.cors import CorsPolicy
from gateway.app import create_app
from gateway.settings import Settings
from tests.support.servers import TEST_ACCESS, TEST_API_KEY, serving

WEB_APP = "http://chat.lan:3000"
STRANGER = "http://evil.example"
CHAT = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "Hi"}]}
KEY = {"Authorization": f"Bearer {TEST_API_KEY}"}


def preflight(url: str, origin: str, headers: str = "authorization,content-type") -> httpx.Response:
    """What a browser sends before a cross-origin POST with a key and a JSON body."""
    return httpx.options(
        url + "/v1/chat/completions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.fixture
def url(gateway_factory: Callable[..., str]) -> str:
    """A gateway allowing WEB_APP, with tight limits that a preflight must not touch."""
    return gateway_factory(
        cors_origins=WEB_APP, default_rpm=2, auth_failure_limit=1, auth_failure_window=60
    )


def assert_readable_by(response: httpx.Response, origin: str) -> None:
    """The answer carries what a page on ``origin`` needs to read it and its headers."""
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"]
    for name in (
        "x-request-id",
        "retry-after",
        "x-ratelimit-remaining-requests",
        "x-gateway-dropped-tools",
    ):
        assert name in exposed
    assert "Origin" in response.headers.get_list("vary")


def test_preflight_is_answered_without_a_key(url: str) -> None:
    response = preflight(url, WEB_APP)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == WEB_APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization,content-type"
    assert int(response.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in response.headers


def test_preflights_count_against_no_limit(url: str) -> None:
    """Rate limit 2/min and one failed key check per IP: ten preflights use none of them."""
    for _ in range(10):
        assert preflight(url, WEB_APP).status_code == 204
    for _ in range(2):
        answer = httpx.post(url + "/v1/chat/completions", json=CHAT, headers=KEY)
        assert answer.status_code == 200, answer.text
    wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401  # the first failed check, not the limiter's 429


def test_preflight_from_another_origin_is_refused_in_the_envelope(url: str) -> None:
    response = preflight(url, STRANGER)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "cors_origin_not_allowed"
    assert STRANGER in error["message"]
    assert "GATEWAY_CORS_ORIGINS" in error["message"]


def test_preflight_with_a_malformed_header_list_is_400(url: str) -> None:
    response = preflight(url, WEB_APP, headers="authorization, bad header")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_header"


def test_answers_to_an_allowed_origin_carry_the_headers(url: str) -> None:
    answer = httpx.post(url + "/v1/chat/completions", json=CHAT, headers={**KEY, "Origin": WEB_APP})
    assert answer.status_code == 200, answer.text
    assert_readable_by(answer, WEB_APP)
    assert "x-ratelimit-remaining-requests" in answer.headers


def test_errors_to_an_allowed_origin_carry_the_headers(url: str) -> None:
    """A page must be able to read the 401's message to show it."""
    answer = httpx.get(url + "/v1/models", headers={"Origin": WEB_APP})
    assert answer.status_code == 401
    assert_readable_by(answer, WEB_APP)
    assert answer.json()["error"]["code"] == "invalid_api_key"


def test_streams_to_an_allowed_origin_carry_the_headers(url: str) -> None:
    body = {**CHAT, "stream": True}
    headers = {**KEY, "Origin": WEB_APP}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as answer:
        assert answer.status_code == 200
        assert_readable_by(answer, WEB_APP)
        text = answer.read().decode()
    assert text.rstrip().endswith("data: [DONE]")


def test_answers_to_another_origin_carry_no_cors_headers(url: str) -> None:
    answer = httpx.get(url + "/v1/models", headers={**KEY, "Origin": STRANGER})
    assert answer.status_code == 200  # served; the browser keeps it from the page
    assert not [name for name in answer.headers if name.startswith("access-control-")]


def test_cors_is_off_by_default(gateway_url: str) -> None:
    response = preflight(gateway_url, WEB_APP)
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers


def test_any_origin_is_allowed_with_a_warning(
    gateway_factory: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.cors"):
        CorsPolicy(["*"])
    assert "GATEWAY_CORS_ORIGINS is '*'" in caplog.text
    url = gateway_factory(cors_origins="*")
    assert preflight(url, STRANGER).headers["access-control-allow-origin"] == "*"
    answer = httpx.get(url + "/v1/models", headers={**KEY, "Origin": STRANGER})
    assert answer.headers["access-control-allow-origin"] == "*"


def test_origins_are_compared_as_browsers_send_them() -> None:
    settings = Settings(cors_origins="HTTP://Chat.LAN:3000/, https://web.example:443,http://a:80")
    assert settings.cors_origins == ["http://chat.lan:3000", "https://web.example", "http://a"]
    policy = CorsPolicy(settings.cors_origins)
    assert policy.allow_origin(b"https://web.example") == b"https://web.example"
    assert policy.allow_origin(b"https://web.example:8443") is None


@pytest.mark.parametrize("origin", ["chat.lan:3000", "http://chat.lan/app", "http://"])
def test_a_malformed_origin_refuses_to_start_saying_what_to_write(origin: str) -> None:
    with pytest.raises(ValidationError, match=r"scheme://host\[:port\]"):
        Settings(cors_origins=origin)


def test_an_unexpected_500_to_an_allowed_origin_carries_the_headers() -> None:
    """The containment layer's 500 envelope is readable by the page that caused it."""
    app = create_app(Settings(**TEST_ACCESS, ollama_url="http://127.0.0.1:9", cors_origins=WEB_APP))

    @app.get("/v1/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    with serving(app) as url:
        answer = httpx.get(url + "/v1/bug", headers={**KEY, "Origin": WEB_APP})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert_readable_by(answer, WEB_APP)
