"""Every error of ``/v1/chat/completions`` in OpenAI's envelope, before and during a stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import free_port, running_gateway
from tests.unit.gateway.openai_api.chat_support import auth, chat, sse_payloads


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an OpenAI error body (asserting its shape)."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_is_404_model_not_found(
    gateway_url: str, gateway_api_key: str, stream: bool
) -> None:
    response = chat(gateway_url, gateway_api_key, model="gpt-oss:21b", stream=stream)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "model_not_found"
    assert error["type"] == "not_found_error"
    assert error["param"] == "model"
    assert "gpt-oss:21b" in error["message"]
    assert "/v1/models" in error["message"]


def test_expected_model_still_downloading_is_503_with_retry_after(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    url = gateway_factory(default_model="gpt-oss:120b")
    response = chat(url, gateway_api_key)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    error = error_of(response)
    assert error["code"] == "model_not_ready"
    assert "still downloading" in error["message"]


def test_ollama_unreachable_is_503_with_retry_after(gateway_api_key: str) -> None:
    closed_port = f"http://127.0.0.1:{free_port()}"
    with running_gateway(ollama_url=closed_port, retry_after_seconds=7, log_level="WARNING") as url:
        response = chat(url, gateway_api_key)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert error_of(response)["code"] == "ollama_unavailable"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("fault-http-500", 502, "upstream_error"),
        ("fault-legacy-error", 502, "upstream_error"),
        ("fault-busy", 503, "server_busy"),
    ],
)
def test_upstream_failures_before_the_answer_keep_their_status(
    gateway_url: str, gateway_api_key: str, model: str, status: int, code: str, stream: bool
) -> None:
    response = chat(gateway_url, gateway_api_key, model=model, stream=stream)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    if status == 503:
        assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("stream", [False, True])
def test_hang_is_504_after_the_first_byte_timeout(
    gateway_factory: Callable[..., str], gateway_api_key: str, stream: bool
) -> None:
    # A whole answer comes in one piece at its end: a hang and a long generation look alike, so
    # the first-byte timeout and the time cap together bound it (README "Runaway guards").
    url = gateway_factory(first_byte_timeout=0.3, max_generation_seconds=0.3)
    response = chat(url, gateway_api_key, model="fault-hang", stream=stream)
    assert response.status_code == 504
    error = error_of(response)
    assert error["code"] == ("upstream_timeout" if stream else "generation_time_limit")
    assert "GATEWAY_FIRST_BYTE_TIMEOUT" in error["message"]
    if not stream:
        assert "GATEWAY_MAX_GENERATION_SECONDS" in error["message"]


@pytest.mark.parametrize("fault", ["midstream-error", "drop", "malformed"])
def test_failure_after_the_stream_began_is_one_error_event_then_the_end(
    gateway_url: str, gateway_api_key: str, fault: str
) -> None:
    response = chat(gateway_url, gateway_api_key, model=f"fault-{fault}", stream=True)
    assert response.status_code == 200
    payloads = sse_payloads(response.content)
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("choices" in p for p in payloads[:-1])  # the relayed tokens
    error = payloads[-1]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "upstream_error"
    assert "[DONE]" not in payloads


@pytest.mark.parametrize("fault", ["midstream-error", "drop", "malformed"])
def test_failure_in_the_middle_of_a_whole_answer_is_502(
    gateway_url: str, gateway_api_key: str, fault: str
) -> None:
    response = chat(gateway_url, gateway_api_key, model=f"fault-{fault}")
    assert response.status_code == 502
    assert error_of(response)["type"] == "api_error"


def test_silence_mid_stream_is_one_timeout_event(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(chunk_timeout=0.2)
    # Nine silences of 0.5 s: a stalled gateway could find a chunk already waiting after one or
    # two of them, not after all nine.
    fake_ollama.configure(token_delay=0.5, thinking_tokens=2, content_tokens=8)
    response = chat(url, gateway_api_key, stream=True)
    payloads = sse_payloads(response.content)
    assert payloads[-1]["error"]["code"] == "upstream_timeout"


def test_body_too_large_is_413(gateway_factory: Callable[..., str], gateway_api_key: str) -> None:
    url = gateway_factory(max_body_bytes=2000)
    response = chat(url, gateway_api_key, messages=[{"role": "user", "content": "x" * 3000}])
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert "GATEWAY_MAX_BODY_BYTES" in error["message"]


def test_invalid_json_is_400(gateway_url: str, gateway_api_key: str) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        content=b'{"messages": [',
        headers=auth(gateway_api_key, **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("fields", "param", "hint"),
    [
        ({"n": 2}, "n", "n=1"),
        ({"temperature": "hot"}, "temperature", "number"),
        ({"max_tokens": "many"}, "max_tokens", "integer"),
        ({"stream": "yes please"}, "stream", "boolean"),
        ({"stop": 3}, "stop", "string"),
        ({"messages": "hi"}, "messages", "expected an array"),
        ({"messages": [{"content": "hi"}]}, "messages.0.role", "required"),
        ({"reasoning_effort": "turbo"}, "reasoning_effort", "'low', 'medium' or 'high'"),
        ({"tools": [{"type": "function"}]}, "tools.0.function", "required"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(
    gateway_url: str, gateway_api_key: str, fields: dict[str, Any], param: str, hint: str
) -> None:
    response = chat(gateway_url, gateway_api_key, **fields)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert hint in error["message"]


def test_inbound_request_id_is_returned_and_forwarded(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = chat(gateway_url, gateway_api_key, headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"
    assert fake_ollama.requests("/api/chat")[-1]["request_id"] == "trace-42.a:b"


@pytest.mark.parametrize("inbound", [None, "has spaces in it", "x" * 200, "semi;colon"])
def test_missing_or_malformed_request_id_is_replaced_by_a_minted_one(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, inbound: str | None
) -> None:
    headers = {"X-Request-ID": inbound} if inbound is not None else {}
    response = chat(gateway_url, gateway_api_key, headers=headers)
    minted = response.headers["x-request-id"]
    assert minted != inbound
    assert len(minted) == 32
    assert fake_ollama.requests("/api/chat")[-1]["request_id"] == minted


@pytest.mark.parametrize(
    "fields", [{"n": 3}, {"model": "nope"}, {"model": "fault-http-500"}, {"stream": True}]
)
def test_every_response_carries_a_request_id(
    gateway_url: str, gateway_api_key: str, fields: dict[str, Any]
) -> None:
    response = chat(gateway_url, gateway_api_key, **fields)
    assert len(response.headers["x-request-id"]) == 32
