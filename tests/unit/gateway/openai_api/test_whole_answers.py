"""Non-streamed answers come from Ollama in one piece (``stream: false`` upstream), the same
answer as when streamed; stop strings, and ``GATEWAY_STREAM_WHOLE_ANSWERS``, keep the stream."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import chat, last_upstream_body, post


def test_a_whole_chat_answer_is_asked_in_one_piece_and_equals_the_streamed_one(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    whole = chat(gateway_url, gateway_api_key).json()
    assert last_upstream_body(fake_ollama)["stream"] is False

    streamed = chat(
        gateway_url, gateway_api_key, stream=True, stream_options={"include_usage": True}
    )
    assert last_upstream_body(fake_ollama)["stream"] is True
    events = [line.removeprefix("data: ") for line in streamed.text.splitlines()]
    chunks = [event for event in events if event.startswith("{")]
    parsed = [orjson.loads(chunk) for chunk in chunks]
    content = "".join(
        (c["choices"][0]["delta"].get("content") or "") for c in parsed if c["choices"]
    )
    reasoning = "".join(
        (c["choices"][0]["delta"].get("reasoning") or "") for c in parsed if c["choices"]
    )
    message = whole["choices"][0]["message"]
    assert message["content"] == content != ""
    assert message["reasoning"] == reasoning != ""
    assert whole["choices"][0]["finish_reason"] == "stop"
    assert whole["usage"] == parsed[-1]["usage"]


def test_a_whole_text_completion_is_asked_in_one_piece(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {"model": "gpt-oss-20b", "prompt": "Say hello"}
    reply = post(gateway_url, gateway_api_key, "/v1/completions", body).json()
    assert last_upstream_body(fake_ollama, "/api/generate")["stream"] is False
    assert reply["choices"][0]["text"]
    assert reply["usage"]["completion_tokens"] > 0


def test_stop_strings_keep_the_upstream_stream_so_the_generation_ends_at_the_match(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(content_tokens=40)
    reply = chat(gateway_url, gateway_api_key, stop=["answer"]).json()
    assert last_upstream_body(fake_ollama)["stream"] is True
    assert "answer" not in reply["choices"][0]["message"]["content"]
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_the_setting_streams_whole_answers_from_ollama(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(stream_whole_answers=True)
    reply = chat(url, gateway_api_key).json()
    assert last_upstream_body(fake_ollama)["stream"] is True
    assert reply["choices"][0]["message"]["content"]
