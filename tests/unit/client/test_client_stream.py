"""Streaming chat: SSE parsed into typed events, errors mid-stream, early stop closes the body."""

from __future__ import annotations

import itertools

import httpx
import pytest

import gptoss
from gptoss import ContentDelta, Done, ReasoningDelta, ToolCall, Usage

from .gptoss_fakes import (
    ANSWER_EVENTS,
    USAGE_CHUNK,
    Body,
    ScriptedGateway,
    chunk,
    client,
    sse,
    stream_reply,
)


def test_stream_yields_typed_events_in_order() -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    with client(gateway) as c:
        events = list(c.stream_chat("hi", reasoning_effort="low"))
    assert events == [
        ReasoningDelta("Greet "),
        ReasoningDelta("back."),
        ContentDelta("Hello"),
        ContentDelta(" there!"),
        Usage(12, 9, 21, reasoning_tokens=5),
        Done("stop", "req-stream"),
    ]
    body = gateway.body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "low"


def test_events_split_across_network_reads_are_reassembled() -> None:
    raw = sse(*ANSWER_EVENTS)
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    gateway = ScriptedGateway(stream_reply(*pieces))
    with client(gateway) as c:
        text = "".join(e.text for e in c.stream_chat("hi") if isinstance(e, ContentDelta))
    assert text == "Hello there!"


def test_tool_call_fragments_become_one_complete_tool_call() -> None:
    gateway = ScriptedGateway(
        stream_reply(
            sse(
                chunk({"role": "assistant", "reasoning": "Need weather."}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
                chunk({}, "tool_calls"),
                "[DONE]",
            )
        )
    )
    with client(gateway) as c:
        events = list(c.stream_chat("Weather?"))
    assert events[1:] == [
        ToolCall("call_1", "get_weather", '{"city":"Paris"}'),
        Done("tool_calls", "req-stream"),
    ]


def test_an_error_event_after_the_stream_began_raises_stream_error() -> None:
    error = {"message": "Ollama stopped answering", "type": "api_error", "code": "upstream_timeout"}
    gateway = ScriptedGateway(
        stream_reply(sse(chunk({"content": "Partial"}), {"error": error}), request_id="req-x")
    )
    received: list[object] = []
    with client(gateway) as c, pytest.raises(gptoss.APIStreamError) as caught:
        received.extend(c.stream_chat("hi"))
    assert received == [ContentDelta("Partial")]
    assert caught.value.message == "Ollama stopped answering"
    assert caught.value.code == "upstream_timeout"
    assert caught.value.request_id == "req-x"


def test_a_stream_that_ends_without_done_is_reported_as_cut_off() -> None:
    gateway = ScriptedGateway(stream_reply(sse(chunk({"content": "Par"}))))
    with client(gateway) as c, pytest.raises(gptoss.APIConnectionError, match="before the answer"):
        list(c.stream_chat("hi"))


def test_an_event_that_is_not_json_raises_stream_error() -> None:
    gateway = ScriptedGateway(stream_reply(b"data: {broken\n\n"))
    with client(gateway) as c, pytest.raises(gptoss.APIStreamError, match="not JSON"):
        list(c.stream_chat("hi"))


def test_comments_and_a_final_event_without_blank_line_are_handled() -> None:
    body = b": keep-alive\n\n" + sse(chunk({"content": "ok"}), chunk({}, "stop")) + b"data: [DONE]"
    with client(ScriptedGateway(stream_reply(body))) as c:
        events = list(c.stream_chat("hi"))
    assert events == [ContentDelta("ok"), Done("stop", "req-stream")]


def test_reasoning_sent_in_both_fields_is_reported_once() -> None:
    body = sse(
        chunk({"reasoning": "once", "reasoning_content": "once"}),
        chunk({"reasoning_content": "only-legacy"}),
        chunk({}, "stop"),
        "[DONE]",
    )
    with client(ScriptedGateway(stream_reply(body))) as c:
        events = list(c.stream_chat("hi"))
    assert events[:2] == [ReasoningDelta("once"), ReasoningDelta("only-legacy")]


def test_stopping_early_closes_the_connection() -> None:
    body = Body(sse(*ANSWER_EVENTS))
    gateway = ScriptedGateway(httpx.Response(200, stream=body))
    with client(gateway) as c:
        stream = c.stream_chat("hi")
        first_two = list(itertools.islice(stream, 2))
        assert not body.closed
        stream.close()
    assert first_two == [ReasoningDelta("Greet "), ReasoningDelta("back.")]
    assert body.closed


def test_usage_chunk_alone_is_a_usage_event() -> None:
    body = sse(chunk({"content": "x"}, "length"), USAGE_CHUNK, "[DONE]")
    with client(ScriptedGateway(stream_reply(body))) as c:
        events = list(c.stream_chat("hi", max_tokens=1))
    assert events == [
        ContentDelta("x"),
        Usage(12, 9, 21, reasoning_tokens=5),
        Done("length", "req-stream"),
    ]
