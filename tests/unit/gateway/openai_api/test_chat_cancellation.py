"""A client that goes away cancels the upstream generation within 1 s, and is logged as such."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import HI, auth, wait_for

CANCEL_WITHIN = 1.0


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """The gateway's access-log records written during the test (in-thread gateways)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("gateway.access")
    handler = Collect(logging.INFO)
    saved = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def access_fields(records: list[logging.LogRecord], request_id: str) -> dict[str, Any]:
    """The fields of the access-log line of ``request_id``, once it is written."""

    def find() -> dict[str, Any] | None:
        return next(
            (r.__dict__ for r in records if r.__dict__.get("request_id") == request_id), None
        )

    fields = wait_for(find, CANCEL_WITHIN)
    assert fields is not None, "no access-log line for the request"
    return fields


def cancelled_upstream(fake: FakeOllamaProcess, request_id: str) -> dict[str, Any]:
    """The fake's record of the cancelled upstream request, asserting it came within 1 s."""
    left = time.monotonic()

    def find() -> dict[str, Any] | None:
        return next((c for c in fake.cancelled() if c["request_id"] == request_id), None)

    entry = wait_for(find, CANCEL_WITHIN)
    assert entry is not None, "the upstream request was not cancelled"
    assert time.monotonic() - left < CANCEL_WITHIN
    return entry


def test_stream_disconnect_cancels_upstream(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    access_log: list[logging.LogRecord],
) -> None:
    fake_ollama.configure(thinking_tokens=0, content_tokens=400, token_delay=0.02)
    body = {"messages": HI, "stream": True}
    url = f"{gateway_url}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=auth(gateway_api_key), timeout=5) as response:
        request_id = response.headers["x-request-id"]
        lines = (line for line in response.iter_lines() if line)
        for _ in range(4):  # the role chunk and three tokens
            next(lines)
    entry = cancelled_upstream(fake_ollama, request_id)
    assert entry["path"] == "/api/chat"
    assert entry["stage"] == "generating"
    record = access_fields(access_log, request_id)
    assert record["outcome"] == "client_disconnect"
    assert record["status"] == 200
    assert record["stream"] is True
    assert record["completion_tokens"] >= 3  # the tokens relayed before the client left


def test_non_stream_disconnect_cancels_upstream(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    access_log: list[logging.LogRecord],
) -> None:
    fake_ollama.configure(thinking_tokens=0, content_tokens=400, token_delay=0.02)
    request_id = "leaving-whole-1"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway_url}/v1/chat/completions",
            json={"messages": HI},
            headers=auth(gateway_api_key, **{"X-Request-ID": request_id}),
            timeout=httpx.Timeout(5, read=0.3),
        )
    assert cancelled_upstream(fake_ollama, request_id)["stage"] == "generating"
    record = access_fields(access_log, request_id)
    assert record["outcome"] == "client_disconnect"
    assert record["status"] == 499
    assert record["completion_tokens"] >= 1


def test_disconnect_while_waiting_for_the_first_token_cancels_upstream(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    access_log: list[logging.LogRecord],
) -> None:
    fake_ollama.configure(first_token_delay=5)
    request_id = "leaving-stream-early"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway_url}/v1/chat/completions",
            json={"messages": HI, "stream": True},
            headers=auth(gateway_api_key, **{"X-Request-ID": request_id}),
            timeout=httpx.Timeout(5, read=0.3),
        )
    assert cancelled_upstream(fake_ollama, request_id)["stage"] == "loading"
    assert access_fields(access_log, request_id)["outcome"] == "client_disconnect"


@pytest.mark.parametrize(
    ("model", "outcome"),
    [("gpt-oss:20b", "ok"), ("fault-http-500", "upstream_error"), ("nope", "invalid_request")],
)
def test_outcome_model_and_usage_are_logged(
    gateway_url: str,
    gateway_api_key: str,
    access_log: list[logging.LogRecord],
    model: str,
    outcome: str,
) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"messages": HI, "model": model},
        headers=auth(gateway_api_key),
    )
    record = access_fields(access_log, response.headers["x-request-id"])
    assert record["outcome"] == outcome
    assert record["model"] == model
    if outcome == "ok":
        usage = response.json()["usage"]
        assert record["prompt_tokens"] == usage["prompt_tokens"]
        assert record["completion_tokens"] == usage["completion_tokens"]
