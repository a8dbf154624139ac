"""Ollama output -> OpenAI chat objects and text completions (pure translation, no server)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.openai_api.generation import Output
from gateway.openai_api.protocol.chat import CompletionRequest
from gateway.openai_api.translate.chat import ChatChunks, chat_completion, read_chat
from gateway.openai_api.translate.completions import (
    CompletionChunks,
    generate_body,
    read_generate,
    text_completion,
)


def chat_line(content: str = "", thinking: str = "", **extra: Any) -> dict[str, Any]:
    """One ``/api/chat`` NDJSON object."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if "tool_calls" in extra:
        message["tool_calls"] = extra.pop("tool_calls")
    return {"model": "gpt-oss:20b", "message": message, "done": False, **extra}


def final(done_reason: str = "stop", **extra: Any) -> dict[str, Any]:
    """A final chat object with counts."""
    line = chat_line(done=True, done_reason=done_reason, prompt_eval_count=7, eval_count=5)
    line["message"].update(extra)
    return line


def collect(lines: Sequence[dict[str, Any]]) -> Output:
    """Feed chat objects to an :class:`Output` the way the service does."""
    output = Output()
    for line in lines:
        output.add(read_chat(line))
        if line.get("done"):
            output.finish(line)
    return output


WEATHER_CALL = {
    "id": "call_ab12cd34",
    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}},
}


def test_non_stream_response_has_content_both_reasoning_keys_and_usage() -> None:
    output = collect(
        [
            chat_line(thinking="Think"),
            chat_line(thinking="ing"),
            chat_line("Hi"),
            chat_line("!"),
            final(),
        ]
    )
    reply = chat_completion(output, completion_id="chatcmpl-1", created=5, model="gpt-oss-20b")
    assert reply == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "gpt-oss-20b",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hi!",
                    "reasoning": "Thinking",
                    "reasoning_content": "Thinking",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }


def test_length_finish_reason_is_reported_honestly() -> None:
    output = collect([chat_line(thinking="a"), final("length")])
    choice = chat_completion(output, completion_id="c", created=1, model="m")["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == ""


def test_tool_calls_keep_ids_and_encode_arguments_as_string() -> None:
    output = collect([final(tool_calls=[WEATHER_CALL])])
    choice = chat_completion(output, completion_id="c", created=1, model="m")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_ab12cd34",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
        }
    ]


def test_tool_call_without_id_gets_a_unique_minted_one() -> None:
    call = {"function": {"name": "f", "arguments": {}}}
    output = collect([final(tool_calls=[call, call])])
    calls = chat_completion(output, completion_id="c", created=1, model="m")["choices"][0][
        "message"
    ]["tool_calls"]
    ids = [c["id"] for c in calls]
    assert all(i.startswith("call_") and len(i) > 10 for i in ids)
    assert ids[0] != ids[1]
    assert calls[0]["function"]["arguments"] == "{}"


def test_stream_chunks_role_reasoning_content_tools_finish_usage() -> None:
    chunks = ChatChunks("gpt-oss-20b", completion_id="chatcmpl-9", created=3)
    opening = chunks.opening()
    both = chunks.deltas(("Hel", "hmm", ()))
    tools = chunks.deltas(("", "", [WEATHER_CALL]))
    output = collect([final(tool_calls=[WEATHER_CALL])])
    finish = chunks.closing(output)
    usage = chunks.usage(output)
    envelope = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 3,
        "model": "gpt-oss-20b",
    }
    assert opening == {
        **envelope,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    assert [c["choices"][0]["delta"] for c in both] == [
        {"reasoning": "hmm", "reasoning_content": "hmm"},
        {"content": "Hel"},
    ]
    assert tools[0]["choices"][0]["delta"] == {
        "tool_calls": [
            {
                "id": "call_ab12cd34",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                "index": 0,
            }
        ]
    }
    assert finish == {
        **envelope,
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}],
    }
    assert usage == {
        **envelope,
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }


def test_stream_tool_call_indexes_continue_across_chunks() -> None:
    chunks = ChatChunks("m")
    first = chunks.deltas(("", "", [WEATHER_CALL]))[0]
    second = chunks.deltas(("", "", [WEATHER_CALL]))[0]
    assert first["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert second["choices"][0]["delta"]["tool_calls"][0]["index"] == 1


def test_stream_ids_are_unique_per_stream() -> None:
    assert ChatChunks("m").completion_id != ChatChunks("m").completion_id
    assert ChatChunks("m").completion_id.startswith("chatcmpl-")


def test_empty_pieces_produce_no_chunks() -> None:
    assert ChatChunks("m").deltas(("", "", ())) == []
    assert CompletionChunks("m").deltas(("", "thinking is not text", ())) == []


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        ({"prompt": "Say hi"}, {"model": "gpt-oss:20b", "prompt": "Say hi"}),
        ({"prompt": ["Say hi"]}, {"model": "gpt-oss:20b", "prompt": "Say hi"}),
        (
            {"prompt": "p", "suffix": "s", "max_tokens": 5, "stop": ["\n"], "seed": 1},
            {
                "model": "gpt-oss:20b",
                "prompt": "p",
                "suffix": "s",
                "options": {"num_predict": 5, "seed": 1},
            },
        ),
    ],
)
def test_completion_request_maps_to_generate_body(
    fields: dict[str, Any], body: dict[str, Any]
) -> None:
    request = CompletionRequest.model_validate(fields)
    assert generate_body(request, "gpt-oss:20b") == body


def test_text_completion_object_and_chunks() -> None:
    lines = [
        {"response": "", "thinking": "hm", "done": False},
        {"response": "Hello", "done": False},
        {
            "response": "",
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 3,
            "eval_count": 2,
        },
    ]
    output = Output()
    for line in lines:
        output.add(read_generate(line))
    output.finish(lines[-1])
    reply = text_completion(output, completion_id="cmpl-1", created=2, model="gpt-oss:20b")
    assert reply == {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 2,
        "model": "gpt-oss:20b",
        "choices": [{"index": 0, "text": "Hello", "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    chunks = CompletionChunks("gpt-oss:20b", completion_id="cmpl-2", created=4)
    assert chunks.opening() is None
    assert chunks.deltas(read_generate(lines[1]))[0]["choices"] == [
        {"index": 0, "text": "Hello", "logprobs": None, "finish_reason": None}
    ]
    assert chunks.closing(output)["choices"][0]["finish_reason"] == "length"
    assert chunks.usage(output)["choices"] == []


def test_output_counts_objects_with_output_and_keeps_the_final_counts() -> None:
    output = collect([chat_line(thinking="a"), chat_line("b"), chat_line("")])
    assert output.produced == 2
    assert output.final is None
    output.finish(final())
    assert (output.prompt_tokens, output.completion_tokens) == (7, 5)


def test_arguments_are_valid_json_strings() -> None:
    nested = {"function": {"name": "f", "arguments": {"a": [1, {"b": "ü"}]}}}
    output = collect([final(tool_calls=[nested])])
    call = chat_completion(output, completion_id="c", created=1, model="m")["choices"][0][
        "message"
    ]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"a": [1, {"b": "ü"}]}
