"""Retries: exponential backoff with jitter, Retry-After honoured, streams never re-sent."""

from __future__ import annotations

import httpx
import pytest

import gptoss
from gptoss import ContentDelta

from .gptoss_fakes import (
    ANSWER_EVENTS,
    ScriptedGateway,
    chat_completion,
    chunk,
    client,
    error_reply,
    json_reply,
    sse,
    stream_reply,
)

MODELS = {"object": "list", "data": [{"id": "gpt-oss:20b", "object": "model"}]}


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited_then_the_request_succeeds(status: int) -> None:
    gateway = ScriptedGateway(
        error_reply(status, "wait", **{"Retry-After": "7"}), json_reply(chat_completion())
    )
    sleeps: list[float] = []
    with client(gateway, sleeps) as c:
        result = c.chat("hi")
    assert result.content == "Hello!"
    assert len(gateway.requests) == 2
    assert len(sleeps) == 1
    assert 7.0 <= sleeps[0] <= 7.7  # the server's wait plus at most 10 % jitter


def test_default_is_two_retries_then_the_error_is_raised() -> None:
    gateway = ScriptedGateway(*[error_reply(503, "busy", **{"Retry-After": "1"})] * 3)
    sleeps: list[float] = []
    with client(gateway, sleeps) as c, pytest.raises(gptoss.ServiceUnavailableError):
        c.models()
    assert len(gateway.requests) == 3
    assert len(sleeps) == 2


def test_number_of_retries_is_configurable() -> None:
    gateway = ScriptedGateway(*[httpx.ConnectError("refused")] * 5)
    sleeps: list[float] = []
    with client(gateway, sleeps, max_retries=4) as c, pytest.raises(gptoss.APIConnectionError):
        c.models()
    assert len(gateway.requests) == 5
    assert len(sleeps) == 4


def test_zero_retries_sends_once() -> None:
    gateway = ScriptedGateway(error_reply(429, "slow", **{"Retry-After": "1"}))
    sleeps: list[float] = []
    with client(gateway, sleeps, max_retries=0) as c, pytest.raises(gptoss.RateLimitError):
        c.models()
    assert (len(gateway.requests), sleeps) == (1, [])


def test_without_retry_after_the_backoff_grows_exponentially_with_jitter() -> None:
    gateway = ScriptedGateway(*[httpx.ConnectError("refused")] * 4, json_reply(MODELS))
    sleeps: list[float] = []
    with client(gateway, sleeps, max_retries=4) as c:
        assert [m.id for m in c.models()] == ["gpt-oss:20b"]
    for attempt, slept in enumerate(sleeps):
        base = 0.5 * 2**attempt
        assert base / 2 <= slept <= base, (attempt, slept)


def test_a_retry_after_longer_than_a_minute_is_not_waited_for() -> None:
    gateway = ScriptedGateway(error_reply(503, "model is downloading", **{"Retry-After": "600"}))
    sleeps: list[float] = []
    with client(gateway, sleeps) as c, pytest.raises(gptoss.ServiceUnavailableError) as caught:
        c.models()
    assert (len(gateway.requests), sleeps) == (1, [])
    assert caught.value.retry_after == 600.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500, 502, 504])
def test_other_statuses_are_not_retried(status: int) -> None:
    gateway = ScriptedGateway(error_reply(status, "no", **{"Retry-After": "1"}))
    sleeps: list[float] = []
    with client(gateway, sleeps) as c, pytest.raises(gptoss.APIStatusError):
        c.models()
    assert (len(gateway.requests), sleeps) == (1, [])


def test_a_read_timeout_is_not_retried_because_the_model_may_still_be_working() -> None:
    gateway = ScriptedGateway(httpx.ReadTimeout("slow"))
    sleeps: list[float] = []
    with client(gateway, sleeps) as c, pytest.raises(gptoss.APITimeoutError):
        c.chat("hi")
    assert (len(gateway.requests), sleeps) == (1, [])


def test_a_connect_timeout_is_retried() -> None:
    gateway = ScriptedGateway(httpx.ConnectTimeout("slow"), json_reply(MODELS))
    sleeps: list[float] = []
    with client(gateway, sleeps) as c:
        c.models()
    assert len(sleeps) == 1


def test_a_stream_refused_before_it_began_is_retried() -> None:
    gateway = ScriptedGateway(
        error_reply(429, "slow", **{"Retry-After": "2"}), stream_reply(sse(*ANSWER_EVENTS))
    )
    sleeps: list[float] = []
    with client(gateway, sleeps) as c:
        events = list(c.stream_chat("hi"))
    assert ContentDelta("Hello") in events
    assert len(gateway.requests) == 2
    assert 2.0 <= sleeps[0] <= 2.2


def test_a_stream_is_never_sent_again_after_its_first_byte() -> None:
    gateway = ScriptedGateway(
        stream_reply(sse(chunk({"content": "Hel"})), httpx.ReadError("connection reset")),
        stream_reply(sse(*ANSWER_EVENTS)),
    )
    sleeps: list[float] = []
    received: list[object] = []
    with client(gateway, sleeps) as c, pytest.raises(gptoss.APIConnectionError) as caught:
        received.extend(c.stream_chat("hi"))
    assert received == [ContentDelta("Hel")]
    assert len(gateway.requests) == 1
    assert sleeps == []
    assert caught.value.request_id == "req-stream"
    assert len(gateway.replies) == 1, "the second reply must stay unused"
