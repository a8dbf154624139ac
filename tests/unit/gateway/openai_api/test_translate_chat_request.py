"""OpenAI chat request -> Ollama ``/api/chat`` body (pure translation, no server)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.openai_api.protocol.chat import ChatCompletionRequest
from gateway.openai_api.translate.chat import chat_body


def body_for(**fields: Any) -> dict[str, Any]:
    """The Ollama body for a chat request with ``fields`` (one user message by default)."""
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return chat_body(ChatCompletionRequest.model_validate(fields), "gpt-oss:20b")


def test_minimal_request_sends_model_and_messages_only() -> None:
    assert body_for() == {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}


def test_roles_and_developer_becomes_system() -> None:
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "system", "content": "you are a fake"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert body_for(messages=messages)["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": "you are a fake"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


def test_content_parts_join_text_and_collect_inline_images() -> None:
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "text", "text": "in this picture?"},
        ],
    }
    assert body_for(messages=[message])["messages"] == [
        {"role": "user", "content": "what is\nin this picture?", "images": ["iVBORw0KGgo="]}
    ]


def test_assistant_tool_calls_become_objects_and_tool_results_get_their_name() -> None:
    messages = [
        {"role": "user", "content": "weather in Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I should call the tool",
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"},
    ]
    out = body_for(messages=messages)["messages"]
    assert out[1] == {
        "role": "assistant",
        "content": "",
        "thinking": "I should call the tool",
        "tool_calls": [
            {"id": "call_abc", "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
        ],
    }
    assert out[2] == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "call_abc",
        "tool_name": "get_weather",
    }


def test_reasoning_key_is_passed_back_as_thinking() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "reasoning": "greet back"},
        {"role": "user", "content": "again"},
    ]
    assert body_for(messages=messages)["messages"][1]["thinking"] == "greet back"


def test_tool_result_without_known_call_has_no_tool_name() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "tool", "content": "42", "tool_call_id": "call_unknown"},
    ]
    forwarded = body_for(messages=messages)["messages"][1]
    assert forwarded == {"role": "tool", "content": "42", "tool_call_id": "call_unknown"}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
]


def test_tools_are_sent_in_ollama_shape() -> None:
    assert body_for(tools=TOOLS)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", False),
        ("auto", True),
        ("required", True),
        ({"type": "function", "function": {"name": "get_weather"}}, True),
    ],
)
def test_tool_choice_none_drops_tools_others_keep_them(choice: object, sent: bool) -> None:
    assert ("tools" in body_for(tools=TOOLS, tool_choice=choice)) is sent


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, "json"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
        ({"type": "text"}, None),
    ],
)
def test_response_format_maps_to_format(response_format: object, expected: object) -> None:
    assert body_for(response_format=response_format).get("format") == expected


@pytest.mark.parametrize(
    ("fields", "think"),
    [
        ({"reasoning_effort": "low"}, "low"),
        ({"reasoning_effort": "high"}, "high"),
        ({"reasoning": {"effort": "medium"}}, "medium"),
        ({"reasoning_effort": "low", "reasoning": {"effort": "high"}}, "high"),
        ({}, None),
    ],
)
def test_reasoning_effort_maps_to_think(fields: dict[str, Any], think: str | None) -> None:
    assert body_for(**fields).get("think") == think


def test_sampling_fields_map_to_options() -> None:
    body = body_for(
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop="END",
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="alice",
    )
    assert body["options"] == {
        "num_predict": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
    }
    assert "user" not in body


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert body_for(max_completion_tokens=9, max_tokens=50)["options"] == {"num_predict": 9}
    assert "options" not in body_for(stop=["a", "b"])  # the gateway matches stop itself


def test_unknown_fields_are_accepted_and_not_forwarded() -> None:
    body = body_for(
        logprobs=False, metadata={"a": "b"}, store=False, parallel_tool_calls=False, x_vendor=1
    )
    assert set(body) == {"model", "messages"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": 5}, "stop"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning": {"effort": "none"}}, "reasoning.effort"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {}}}, "tool_choice"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages.0.content.0",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages.0.content.0.type",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            },
            "messages.0.content.0.image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "[1, 2]"}}],
                    }
                ]
            },
            "messages.0.tool_calls.0.function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{not json"}}],
                    }
                ]
            },
            "messages.0.tool_calls.0.function.arguments",
        ),
    ],
)
def test_invalid_values_name_the_parameter(fields: dict[str, Any], param: str) -> None:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(fields)
    locs = [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]
    assert locs[0] == param


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [('{"a": 1}', {"a": 1}), ({"a": 1}, {"a": 1}), ("", {}), (None, {})],
)
def test_history_tool_call_arguments_accept_json_text_objects_and_nothing(
    arguments: object, expected: dict[str, Any]
) -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": arguments}}
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]
    sent = body_for(messages=messages)["messages"][1]["tool_calls"]
    assert sent == [{"id": "c1", "function": {"name": "f", "arguments": expected}}]


def test_n_of_one_is_accepted() -> None:
    assert body_for(n=1) == body_for()


def test_unknown_field_names_are_logged_at_debug_without_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway.protocol"):
        body_for(vendor_bias={"42": 5}, cache_hint=True, store=True, user="u-1")
    fields = [r.__dict__.get("fields") for r in caplog.records if r.name == "gateway.protocol"]
    assert ["cache_hint", "vendor_bias"] in fields
    assert "42" not in caplog.text
