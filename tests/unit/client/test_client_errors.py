"""Every gateway error becomes its own exception class, keeping status, request id and message."""

from __future__ import annotations

import httpx
import pytest

import gptoss
from gptoss import APIStatusError

from .gptoss_fakes import ScriptedGateway, client, error_reply


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, None, gptoss.BadRequestError),
        (401, "invalid_api_key", gptoss.AuthenticationError),
        (403, "model_not_allowed", gptoss.PermissionDeniedError),
        (404, "model_not_found", gptoss.NotFoundError),
        (413, "request_too_large", gptoss.RequestTooLargeError),
        (429, "rate_limit_exceeded", gptoss.RateLimitError),
        (500, None, gptoss.InternalServerError),
        (502, "upstream_error", gptoss.BadGatewayError),
        (503, "service_unavailable", gptoss.ServiceUnavailableError),
        (504, "upstream_timeout", gptoss.GatewayTimeoutError),
        (405, "method_not_allowed", gptoss.APIStatusError),
    ],
)
def test_status_maps_to_its_class_with_the_servers_details(
    status: int, code: str | None, expected: type[APIStatusError]
) -> None:
    gateway = ScriptedGateway(error_reply(status, f"went wrong {status}", code=code))
    with client(gateway, max_retries=0) as c, pytest.raises(expected) as caught:
        c.chat("hi")
    error = caught.value
    assert type(error) is expected
    assert error.status_code == status
    assert error.message == f"went wrong {status}"
    assert error.code == code
    assert error.error_type == "api_error"
    assert error.request_id == f"req-{status}"
    assert f"went wrong {status}" in str(error)
    assert f"req-{status}" in str(error)


def test_rate_limit_error_carries_retry_after_seconds() -> None:
    gateway = ScriptedGateway(error_reply(429, "slow down", **{"Retry-After": "17"}))
    with client(gateway, max_retries=0) as c, pytest.raises(gptoss.RateLimitError) as caught:
        c.models()
    assert caught.value.retry_after == 17.0


def test_retry_after_as_an_http_date_is_understood() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: wait nothing
    gateway = ScriptedGateway(error_reply(503, "busy", **{"Retry-After": date}))
    with client(gateway, max_retries=0) as c, pytest.raises(gptoss.ServiceUnavailableError) as e:
        c.models()
    assert e.value.retry_after == 0.0


def test_a_non_json_error_page_still_gives_a_readable_message() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    gateway = ScriptedGateway(httpx.Response(502, text=page))
    with client(gateway, max_retries=0) as c, pytest.raises(gptoss.BadGatewayError) as caught:
        c.models()
    assert "502 Bad Gateway" in caught.value.message
    assert caught.value.request_id is None


def test_an_empty_error_body_falls_back_to_the_reason_phrase() -> None:
    gateway = ScriptedGateway(httpx.Response(500))
    with client(gateway) as c, pytest.raises(gptoss.InternalServerError) as caught:
        c.models()
    assert caught.value.message == "Internal Server Error"


def test_ollama_native_error_shape_is_understood() -> None:
    gateway = ScriptedGateway(httpx.Response(404, json={"error": "model 'x' not found"}))
    with client(gateway) as c, pytest.raises(gptoss.NotFoundError) as caught:
        c.models()
    assert caught.value.message == "model 'x' not found"


def test_connection_refused_is_a_connection_error_naming_the_url() -> None:
    gateway = ScriptedGateway(*[httpx.ConnectError("Connection refused")] * 3)
    with client(gateway) as c, pytest.raises(gptoss.APIConnectionError) as caught:
        c.models()
    assert not isinstance(caught.value, gptoss.APITimeoutError)
    assert "http://gateway.test/v1/models" in caught.value.message
    assert "Connection refused" in caught.value.message


def test_read_timeout_is_a_timeout_error() -> None:
    gateway = ScriptedGateway(httpx.ReadTimeout("timed out"))
    with client(gateway) as c, pytest.raises(gptoss.APITimeoutError) as caught:
        c.chat("hi")
    assert "waiting for an answer" in caught.value.message


def test_configured_timeout_reaches_the_transport() -> None:
    seen: list[object] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"data": []})

    with client(ScriptedGateway(record), timeout=12.5) as c:
        c.models()
    assert seen == [{"connect": 5.0, "read": 12.5, "write": 12.5, "pool": 12.5}]


def test_a_successful_response_that_is_not_json_is_an_api_error() -> None:
    gateway = ScriptedGateway(httpx.Response(200, text="<html>login page</html>"))
    with client(gateway) as c, pytest.raises(gptoss.APIError, match="expected a JSON object"):
        c.models()
