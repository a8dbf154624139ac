"""The official ``ollama`` Python client works against the fake."""

from __future__ import annotations

import ollama
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.fake_ollama.fake_ollama_support import USER_HELLO, WEATHER_TOOL


@pytest.fixture
def client(fake_ollama: FakeOllamaProcess) -> ollama.Client:
    """An official client pointed at the (reset) fake."""
    return ollama.Client(host=fake_ollama.url, timeout=10)


def test_chat_whole_and_streamed(client: ollama.Client) -> None:
    reply = client.chat(model="gpt-oss:20b", messages=USER_HELLO, think="low")
    assert (reply.message.content or "").startswith("Fake answer to: Say hello")
    assert reply.message.thinking
    assert reply.message.thinking.startswith("Reasoning (low)")
    assert reply.done_reason == "stop"
    assert reply.eval_count == 20
    parts = list(client.chat(model="gpt-oss:20b", messages=USER_HELLO, stream=True))
    assert "".join(p.message.content or "" for p in parts) == reply.message.content
    assert parts[-1].done
    assert parts[-1].total_duration


def test_chat_tool_call(client: ollama.Client) -> None:
    reply = client.chat(model="gpt-oss:20b", messages=USER_HELLO, tools=[WEATHER_TOOL])
    (call,) = reply.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.arguments["city"] == "fake-city"


def test_generate_and_embed(client: ollama.Client, fake_ollama: FakeOllamaProcess) -> None:
    generated = client.generate(model="gpt-oss:20b", prompt="Why is the sky blue?")
    assert (generated.response or "").startswith("Fake answer to: Why is the sky blue?")
    assert generated.context
    fake_ollama.configure(models=["gpt-oss:20b", "all-minilm"])
    embedded = client.embed(model="all-minilm", input=["one", "two"])
    assert [len(v) for v in embedded.embeddings] == [384, 384]


def test_list_show_ps_and_pull(client: ollama.Client, fake_ollama: FakeOllamaProcess) -> None:
    assert [m.model for m in client.list().models] == ["gpt-oss:20b"]
    shown = client.show("gpt-oss:20b")
    assert shown.capabilities == ["completion", "tools", "thinking"]
    assert shown.details
    assert shown.details.family == "gptoss"
    fake_ollama.configure(pull_seconds=0.0)
    statuses = [p.status for p in client.pull("nomic-embed-text", stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    assert client.pull("gpt-oss:120b").status == "success"
    assert {m.model for m in client.list().models} == {
        "gpt-oss:20b",
        "nomic-embed-text:latest",
        "gpt-oss:120b",
    }
    client.generate(model="gpt-oss:20b")
    assert [m.model for m in client.ps().models] == ["gpt-oss:20b"]


def test_errors_become_response_errors(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nope", messages=USER_HELLO)
    assert missing.value.status_code == 404
    assert missing.value.error == "model 'nope' not found"
    with pytest.raises(ollama.ResponseError) as midstream:
        list(client.chat(model="fault-midstream-error", messages=USER_HELLO, stream=True))
    assert midstream.value.status_code == -1
