"""The previous turn's reasoning, sent back by the client, reaches Ollama as ``thinking``.

gpt-oss degrades in multi-turn tool use without it. Clients send it as ``reasoning`` or
``reasoning_content`` on chat assistant messages, or as reasoning items in the Responses API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess


def post(url: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """``POST`` ``body`` to ``path`` with the key."""
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=10)


def sent_messages(fake: FakeOllamaProcess) -> list[dict[str, Any]]:
    """The messages of the last ``/api/chat`` request the fake received."""
    messages: list[dict[str, Any]] = fake.requests(path="/api/chat")[-1]["body"]["messages"]
    return messages


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_chat_assistant_reasoning_is_sent_as_thinking(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, field: str
) -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", field: "The user greets me."},
        {"role": "user", "content": "again"},
    ]
    body = {"model": "gpt-oss-20b", "messages": messages}
    assert post(gateway_url, gateway_api_key, "/v1/chat/completions", body).status_code == 200
    assistant = sent_messages(fake_ollama)[1]
    assert assistant == {"role": "assistant", "content": "hello", "thinking": "The user greets me."}


def test_responses_reasoning_item_is_sent_as_the_next_assistant_thinking(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    first = post(gateway_url, gateway_api_key, "/v1/responses", {"input": "hi"}).json()
    reasoning, message = first["output"]
    body = {
        "input": [
            {"type": "message", "role": "user", "content": "hi"},
            reasoning,
            message,
            {"type": "message", "role": "user", "content": "again"},
        ]
    }
    assert post(gateway_url, gateway_api_key, "/v1/responses", body).status_code == 200
    assistant = sent_messages(fake_ollama)[1]
    assert assistant["role"] == "assistant"
    assert assistant["thinking"] == reasoning["content"][0]["text"]
    assert assistant["content"] == message["content"][0]["text"]
