"""The official ``openai`` SDK against the gateway: chat, streaming, tools and error classes."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import free_port, running_gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def sdk(base_url: str, key: str) -> openai.OpenAI:
    """An SDK client for a gateway (no retries: each error must surface as it is)."""
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=10)


@pytest.fixture
def client(gateway_url: str, gateway_api_key: str) -> openai.OpenAI:
    """An SDK client for the session gateway."""
    return sdk(gateway_url, gateway_api_key)


def test_chat(client: openai.OpenAI, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(thinking_tokens=3, content_tokens=4)
    completion = client.chat.completions.create(
        model="gpt-oss-20b", messages=HI, max_completion_tokens=50, reasoning_effort="low"
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-oss-20b"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "Fake answer to: hi"
    extra = choice.message.model_extra or {}
    assert extra["reasoning_content"] == extra["reasoning"] == "Reasoning (low) about:"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7
    assert fake_ollama.requests("/api/chat")[-1]["body"]["options"] == {"num_predict": 50}


def test_chat_stream(client: openai.OpenAI, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(thinking_tokens=2, content_tokens=4)
    stream = client.chat.completions.create(
        model="gpt-oss:20b", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake answer to: hi"
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "")
        for c in chunks
        if c.choices
    )
    assert reasoning == "Reasoning (medium)"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 6
    assert len({c.id for c in chunks}) == 1


def test_tool_call_and_answer(client: openai.OpenAI) -> None:
    tools: list[ChatCompletionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "parameters": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                },
            },
        }
    ]
    first = client.chat.completions.create(model="gpt-oss:20b", messages=HI, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert json.loads(call.function.arguments) == {"a": 1, "b": 1}
    second = client.chat.completions.create(
        model="gpt-oss:20b",
        tools=tools,
        messages=[
            *HI,
            choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "2"},
        ],
    )
    content = second.choices[0].message.content or ""
    assert content.startswith("Fake answer using add result: 2 lorem")


def test_stream_helper_collects_a_tool_call(client: openai.OpenAI) -> None:
    tools: list[ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}
    ]
    stream = client.chat.completions.create(
        model="gpt-oss:20b", messages=HI, tools=tools, stream=True
    )
    calls = [
        call
        for chunk in stream
        if chunk.choices and chunk.choices[0].delta.tool_calls
        for call in chunk.choices[0].delta.tool_calls
    ]
    assert [(c.index, c.function.name if c.function else None) for c in calls] == [(0, "ping")]


@pytest.mark.parametrize(
    ("kwargs", "exception", "status"),
    [
        ({"n": 2}, openai.BadRequestError, 400),
        ({"temperature": 9}, openai.BadRequestError, 400),
        ({"model": "no-such-model"}, openai.NotFoundError, 404),
        ({"model": "fault-http-500"}, openai.InternalServerError, 502),
        ({"model": "fault-busy"}, openai.InternalServerError, 503),
    ],
)
def test_error_classes(
    client: openai.OpenAI,
    kwargs: dict[str, object],
    exception: type[openai.APIStatusError],
    status: int,
) -> None:
    kwargs.setdefault("model", "gpt-oss:20b")
    with pytest.raises(exception) as caught:
        client.chat.completions.create(messages=HI, **kwargs)  # type: ignore[call-overload]
    assert caught.value.status_code == status
    assert caught.value.request_id is None or len(caught.value.request_id) > 0
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"]


def test_stream_errors_before_the_answer_raise_too(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HI, stream=True)


def test_body_too_large_and_timeout_and_unreachable(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    small = sdk(gateway_factory(max_body_bytes=1500), gateway_api_key)
    with pytest.raises(openai.APIStatusError) as caught:
        small.chat.completions.create(
            model="gpt-oss:20b", messages=[{"role": "user", "content": "x" * 2000}]
        )
    assert caught.value.status_code == 413

    impatient = sdk(
        gateway_factory(first_byte_timeout=0.2, max_generation_seconds=0.2), gateway_api_key
    )
    with pytest.raises(openai.InternalServerError) as caught:
        impatient.chat.completions.create(model="fault-hang", messages=HI)
    assert caught.value.status_code == 504

    closed = f"http://127.0.0.1:{free_port()}"
    with (
        running_gateway(ollama_url=closed, log_level="WARNING") as url,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        sdk(url, gateway_api_key).chat.completions.create(model="gpt-oss:20b", messages=HI)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"]


def test_mid_stream_failure_surfaces_as_an_api_error(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="fault-midstream-error", messages=HI, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "Ollama" in caught.value.message
