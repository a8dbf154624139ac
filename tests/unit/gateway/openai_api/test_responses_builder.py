"""Ollama chat chunks -> Responses API object and typed SSE events (pure, no server)."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import UpstreamError
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.response_builder import ResponseBuilder

REQUEST = ResponsesRequest.model_validate({"input": "hi", "reasoning": {"effort": "low"}})


def chunk(content: str = "", thinking: str = "", **extra: Any) -> dict[str, Any]:
    """One Ollama /api/chat NDJSON object."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    return {"model": "gpt-oss:20b", "message": message, "done": False, **extra}


def final(done_reason: str = "stop", **message: Any) -> dict[str, Any]:
    """Ollama's last object with its counts."""
    return {
        "model": "gpt-oss:20b",
        "message": {"role": "assistant", "content": "", **message},
        "done": True,
        "done_reason": done_reason,
        "prompt_eval_count": 7,
        "eval_count": 5,
    }


def parse_events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) pairs of an SSE byte string."""
    events = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ")
        assert data_line.startswith("data: ")
        events.append((name_line[7:], orjson.loads(data_line[6:])))
    return events


def run(chunks: list[dict[str, Any]], *, emit: bool) -> tuple[ResponseBuilder, bytes]:
    """Feed ``chunks`` into a new builder; return it and every event it produced."""
    builder = ResponseBuilder(REQUEST, "gpt-oss-20b", emit=emit)
    data = builder.start() + b"".join(builder.feed(c) for c in chunks)
    return builder, data


TEXT_ANSWER = [chunk(thinking="Think"), chunk(thinking="ing."), chunk("Hel"), chunk("lo"), final()]


def test_whole_answer_has_reasoning_then_message_and_usage() -> None:
    builder, data = run(TEXT_ANSWER, emit=False)
    response = builder.response
    assert data == b""
    assert response["status"] == "completed"
    assert response["id"].startswith("resp_")
    assert response["model"] == "gpt-oss-20b"
    reasoning, message = response["output"]
    assert reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == []
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Thinking."}]
    assert message["id"].startswith("msg_")
    assert message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "text": "Hello", "annotations": []}]
    assert response["usage"] == {"input_tokens": 7, "output_tokens": 5, "total_tokens": 12}
    assert response["reasoning"] == {"effort": "low"}


def test_stream_events_are_named_numbered_and_ordered() -> None:
    builder, data = run(TEXT_ANSWER, emit=True)
    events = parse_events(data)
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [payload["sequence_number"] for _, payload in events] == list(range(len(events)))
    assert all(payload["type"] == name for name, payload in events)
    created = events[0][1]["response"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    deltas = [p for n, p in events if n == "response.output_text.delta"]
    assert [d["delta"] for d in deltas] == ["Hel", "lo"]
    assert {(d["output_index"], d["content_index"]) for d in deltas} == {(1, 0)}
    completed = events[-1][1]["response"]
    assert completed == builder.response
    assert completed["output"][1]["content"][0]["text"] == "Hello"


def test_length_limit_gives_an_incomplete_response() -> None:
    builder, data = run([chunk(thinking="Long thought"), final("length")], emit=True)
    response = builder.response
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["type"] for item in response["output"]] == ["reasoning"]
    assert parse_events(data)[-1][0] == "response.incomplete"


def test_truncated_answer_marks_the_message_incomplete() -> None:
    builder, _ = run([chunk("Partial"), final("length")], emit=False)
    assert builder.response["output"][0]["status"] == "incomplete"


def test_tool_calls_become_function_call_items_with_json_string_arguments() -> None:
    call = {"id": "call_ab12cd34", "function": {"name": "get_weather", "arguments": {"city": "X"}}}
    builder, data = run([chunk(thinking="Use tool"), final(tool_calls=[call])], emit=True)
    item = builder.response["output"][1]
    assert item["type"] == "function_call"
    assert item["id"].startswith("fc_")
    assert item["call_id"] == "call_ab12cd34"
    assert item["name"] == "get_weather"
    assert orjson.loads(item["arguments"]) == {"city": "X"}
    assert item["status"] == "completed"
    events = parse_events(data)
    names = [name for name, _ in events]
    start = names.index("response.function_call_arguments.delta")
    assert names[start - 1 : start + 3] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    added = events[start - 1][1]["item"]
    assert added["arguments"] == ""
    assert added["status"] == "in_progress"
    assert events[start + 1][1]["arguments"] == item["arguments"]


def test_tool_call_without_id_gets_one() -> None:
    call = {"function": {"name": "f", "arguments": {}}}
    builder, _ = run([final(tool_calls=[call])], emit=False)
    assert builder.response["output"][0]["call_id"].startswith("call_")
    assert builder.response["output"][0]["arguments"] == "{}"


def test_failure_closes_the_open_item_and_sends_response_failed() -> None:
    builder, data = run([chunk("Half an ans")], emit=True)
    data += builder.fail(UpstreamError("Ollama broke."))
    events = parse_events(data)
    assert [name for name, _ in events[-4:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "Ollama broke."}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "Half an ans"


def test_request_settings_are_echoed() -> None:
    tools = [{"type": "function", "name": "f", "parameters": {}}]
    request = ResponsesRequest.model_validate(
        {
            "input": "x",
            "instructions": "Be nice.",
            "max_output_tokens": 9,
            "temperature": 0.5,
            "tools": tools,
            "tool_choice": "required",
            "metadata": {"k": "v"},
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        }
    )
    response = ResponseBuilder(request, "m", emit=False).response
    assert response["instructions"] == "Be nice."
    assert response["max_output_tokens"] == 9
    assert response["temperature"] == 0.5
    assert response["tools"] == tools
    assert response["tool_choice"] == "required"
    assert response["metadata"] == {"k": "v"}
    assert response["text"]["format"] == {
        "type": "json_schema",
        "name": "n",
        "schema": {"type": "object"},
    }
