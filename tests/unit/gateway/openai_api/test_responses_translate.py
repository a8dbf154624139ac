"""Responses API request -> Ollama /api/chat body (pure translation, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.errors import InvalidRequest
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.translate.responses import chat_body

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def body_for(**fields: Any) -> dict[str, Any]:
    """The Ollama body for a request built from ``fields``."""
    return chat_body(ResponsesRequest.model_validate(fields), "gpt-oss:20b")


def refusal(**fields: Any) -> InvalidRequest:
    """The 400 raised for a request built from ``fields``."""
    with pytest.raises(InvalidRequest) as caught:
        body_for(**fields)
    return caught.value


def test_string_input_with_instructions_becomes_system_and_user_messages() -> None:
    body = body_for(input="Hello", instructions="Be brief.")
    assert body == {
        "model": "gpt-oss:20b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
    }


def test_message_items_with_text_parts_and_developer_role() -> None:
    body = body_for(
        input=[
            {"role": "developer", "content": "Answer in French."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Bonjour, "},
                    {"type": "input_text", "text": "ça va ?"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Oui.", "annotations": []}],
            },
        ]
    )
    assert body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Bonjour, ça va ?"},
        {"role": "assistant", "content": "Oui."},
    ]


def test_tool_loop_items_become_assistant_tool_calls_and_named_tool_results() -> None:
    body = body_for(
        input=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "Need the weather."}],
            },
            {
                "type": "function_call",
                "call_id": "call_a",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {
                "type": "function_call",
                "call_id": "call_b",
                "name": "get_weather",
                "arguments": '{"city": "Rome"}',
            },
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {
                "type": "function_call_output",
                "call_id": "call_b",
                "output": [{"type": "input_text", "text": "22C"}],
            },
        ],
        tools=[WEATHER_TOOL],
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "thinking": "Need the weather.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                },
                {
                    "id": "call_b",
                    "function": {"name": "get_weather", "arguments": {"city": "Rome"}},
                },
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "call_a", "tool_name": "get_weather"},
        {"role": "tool", "content": "22C", "tool_call_id": "call_b", "tool_name": "get_weather"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": WEATHER_TOOL["parameters"],
            },
        }
    ]


def test_reasoning_item_before_an_assistant_message_becomes_its_thinking() -> None:
    body = body_for(
        input=[
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Greet back."}]},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "Hello!",
        "thinking": "Greet back.",
    }


def test_trailing_reasoning_item_is_kept_as_an_assistant_turn() -> None:
    reasoning = {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "Hmm."}]}
    body = body_for(input=[{"role": "user", "content": "Hi"}, reasoning])
    assert body["messages"][-1] == {"role": "assistant", "content": "", "thinking": "Hmm."}


def test_empty_reasoning_item_adds_nothing() -> None:
    body = body_for(input=[{"role": "user", "content": "Hi"}, {"type": "reasoning", "summary": []}])
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_knobs_map_to_think_format_and_options() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    body = body_for(
        input="x",
        reasoning={"effort": "high", "summary": "auto"},
        max_output_tokens=64,
        temperature=0.2,
        top_p=0.9,
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
    )
    assert body["think"] == "high"
    assert body["format"] == schema
    assert body["options"] == {"temperature": 0.2, "top_p": 0.9, "num_predict": 64}


def test_json_object_format_and_plain_text_format() -> None:
    assert body_for(input="x", text={"format": {"type": "json_object"}})["format"] == "json"
    assert "format" not in body_for(input="x", text={"format": {"type": "text"}})


def test_no_options_sent_when_none_are_set() -> None:
    body = body_for(input="x")
    assert "options" not in body
    assert "think" not in body
    assert "tools" not in body


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", ["get_weather", "get_time"]),
        ("required", ["get_weather", "get_time"]),
        ("none", []),
        ({"type": "function", "name": "get_time"}, ["get_time"]),
    ],
)
def test_tool_choice_narrows_the_tools(choice: object, expected: list[str]) -> None:
    time_tool = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}
    body = body_for(input="x", tools=[WEATHER_TOOL, time_tool], tool_choice=choice)
    assert [tool["function"]["name"] for tool in body.get("tools", [])] == expected


def test_tool_choice_naming_an_unknown_function_is_refused() -> None:
    error = refusal(input="x", tools=[WEATHER_TOOL], tool_choice={"type": "function", "name": "x"})
    assert error.param == "tool_choice"
    assert "not in 'tools'" in error.message


def test_hosted_tools_are_left_out() -> None:
    body = body_for(input="x", tools=[WEATHER_TOOL, {"type": "web_search"}])
    assert [tool["function"]["name"] for tool in body["tools"]] == ["get_weather"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
    ],
)
def test_stateful_features_are_refused(fields: dict[str, Any], param: str) -> None:
    error = refusal(input="x", **fields)
    assert error.status == 400
    assert error.param == param


def test_store_false_is_accepted() -> None:
    assert body_for(input="x", store=False)["messages"] == [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("item", "param"),
    [
        (
            {"role": "user", "content": [{"type": "input_image", "image_url": "x"}]},
            "input[0].content[0]",
        ),
        ({"role": "robot", "content": "x"}, "input[0].role"),
        ({"type": "item_reference", "id": "msg_1"}, "input[0].type"),
        (
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"},
            "input[0].arguments",
        ),
        ({"type": "function_call", "call_id": "c", "arguments": "{}"}, "input[0].name"),
        ({"role": "user", "content": 3}, "input[0].content"),
    ],
)
def test_bad_input_items_are_refused_naming_the_item(item: dict[str, Any], param: str) -> None:
    assert refusal(input=[item]).param == param


def test_json_schema_without_schema_is_refused() -> None:
    error = refusal(input="x", text={"format": {"type": "json_schema", "name": "n"}})
    assert error.param == "text.format.schema"


def test_unknown_effort_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        ResponsesRequest.model_validate({"input": "x", "reasoning": {"effort": "extreme"}})


def test_unknown_fields_are_accepted() -> None:
    request = ResponsesRequest.model_validate({"input": "x", "truncation": "auto"})
    assert request.model_extra == {"truncation": "auto"}


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{}], "tools[0].type"),
        ([{"type": "namespace", "tools": []}], "tools[0].name"),
        ([{"type": "namespace", "name": "n", "tools": "x"}], "tools[0].tools"),
        (
            [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}],
            "tools[0].tools[0]",
        ),
        (
            [{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}],
            "tools[0].tools[0].name",
        ),
    ],
)
def test_malformed_tools_are_refused_naming_the_entry(tools: list[object], param: str) -> None:
    assert refusal(input="x", tools=tools).param == param


def test_namespace_functions_are_offered_flat() -> None:
    namespace = {"type": "namespace", "name": "files", "tools": [{**WEATHER_TOOL, "name": "read"}]}
    body = body_for(input="x", tools=[namespace])
    assert [tool["function"]["name"] for tool in body["tools"]] == ["files__read"]


def test_another_servers_encrypted_reasoning_is_ignored_for_the_summary() -> None:
    reasoning = {
        "type": "reasoning",
        "encrypted_content": "gAAAAB-from-elsewhere",
        "summary": [{"type": "summary_text", "text": "I looked it up."}],
    }
    body = body_for(input=[reasoning, {"role": "assistant", "content": "Done."}])
    assert body["messages"] == [
        {"role": "assistant", "content": "Done.", "thinking": "I looked it up."}
    ]


@pytest.mark.parametrize("choice", ["sometimes", {"type": "web_search"}])
def test_an_unknown_tool_choice_is_refused(choice: object) -> None:
    error = refusal(input="x", tools=[WEATHER_TOOL], tool_choice=choice)
    assert error.param == "tool_choice"
    assert "'required' or a named function" in error.message
