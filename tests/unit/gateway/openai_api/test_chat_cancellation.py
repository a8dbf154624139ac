"""A client that goes away cancels the upstream generation, and is logged as such.

The generations here would last a minute: a cancellation record from the fake Ollama, with the
generation far from done, shows the gateway hung up because the client left. The tests wait for
it (and for the access-log line) with a generous deadline, never asserting how fast it came.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.context import RequestContext
from tests.support.waiting import PATIENCE, leaving_request, wait_until
from tests.unit.gateway.openai_api.chat_support import HI, auth

TOKENS = 3000  # 60 s at 20 ms a token: only a cancellation ends these generations early


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

    return wait_until(find, f"the access-log line of {request_id}")


def cancelled_upstream(fake: FakeOllamaProcess, request_id: str) -> dict[str, Any]:
    """The fake's record of the cancelled upstream request (cancelled long before its end)."""

    def find() -> dict[str, Any] | None:
        return next((c for c in fake.cancelled() if c["request_id"] == request_id), None)

    entry = wait_until(find, f"the upstream request {request_id} cancelled")
    assert entry["tokens_emitted"] < TOKENS, "the generation was cut short"
    return entry


def reached_ollama(fake: FakeOllamaProcess, request_id: str) -> bool:
    """True once the fake Ollama has received the request ``request_id``."""
    return any(r["request_id"] == request_id for r in fake.requests("/api/chat"))


def test_stream_disconnect_cancels_upstream(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    access_log: list[logging.LogRecord],
) -> None:
    fake_ollama.configure(thinking_tokens=0, content_tokens=TOKENS, token_delay=0.02)
    body = {"messages": HI, "stream": True}
    url = f"{gateway_url}/v1/chat/completions"
    with httpx.stream(
        "POST", url, json=body, headers=auth(gateway_api_key), timeout=PATIENCE
    ) as response:
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
    # Asked in one piece: the gateway sees no token before the end, and closes Ollama's request.
    fake_ollama.configure(thinking_tokens=0, content_tokens=TOKENS, token_delay=0.02)
    request_id = "leaving-whole-1"
    headers = auth(gateway_api_key, **{"X-Request-ID": request_id})
    with leaving_request(f"{gateway_url}/v1/chat/completions", {"messages": HI}, headers):
        wait_until(lambda: reached_ollama(fake_ollama, request_id), "the request reached Ollama")
    cancelled_upstream(fake_ollama, request_id)
    record = access_fields(access_log, request_id)
    assert record["outcome"] == "client_disconnect"
    assert record["status"] == 499
    assert not record["completion_tokens"]  # what Ollama had produced is not known: README


@pytest.fixture
def gateway_streaming_whole_answers(gateway_factory: Callable[..., str]) -> str:
    """A gateway with GATEWAY_STREAM_WHOLE_ANSWERS (started before ``access_log`` listens)."""
    return gateway_factory(stream_whole_answers=True)


def test_non_stream_disconnect_streamed_from_ollama_counts_the_tokens_produced(
    gateway_streaming_whole_answers: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    access_log: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GATEWAY_STREAM_WHOLE_ANSWERS: the client leaves once the gateway holds a token, so the
    # count it logs cannot be zero.
    gateway = gateway_streaming_whole_answers
    first_token = threading.Event()
    mark_first_token = RequestContext.mark_first_token

    def mark_and_tell(ctx: RequestContext) -> None:
        mark_first_token(ctx)
        first_token.set()

    monkeypatch.setattr(RequestContext, "mark_first_token", mark_and_tell)
    fake_ollama.configure(thinking_tokens=0, content_tokens=TOKENS, token_delay=0.02)
    request_id = "leaving-whole-2"
    headers = auth(gateway_api_key, **{"X-Request-ID": request_id})
    with leaving_request(f"{gateway}/v1/chat/completions", {"messages": HI}, headers):
        assert first_token.wait(PATIENCE), "the gateway never received a token"
    assert cancelled_upstream(fake_ollama, request_id)["stage"] == "generating"
    assert fake_ollama.requests("/api/chat")[-1]["body"]["stream"] is True
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
    fake_ollama.configure(first_token_delay=600)
    request_id = "leaving-stream-early"
    body = {"messages": HI, "stream": True}
    headers = auth(gateway_api_key, **{"X-Request-ID": request_id})
    with leaving_request(f"{gateway_url}/v1/chat/completions", body, headers):
        wait_until(lambda: reached_ollama(fake_ollama, request_id), "the request reached Ollama")
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
