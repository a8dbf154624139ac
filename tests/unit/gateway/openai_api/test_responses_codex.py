"""What the Codex CLI sends to ``/v1/responses``, replayed from a captured request (Codex 0.169.0).

The capture (``data/codex_0.169.0_request.json``) carries function tools with ``strict``, a
``namespace`` tool, the hosted ``web_search`` tool, two ``developer`` messages,
``reasoning.summary``, ``include: ["reasoning.encrypted_content"]``, ``store: false``,
``parallel_tool_calls``, ``prompt_cache_key`` and ``client_metadata``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.openai_api.translate.encrypted_reasoning import PREFIX

CAPTURE = Path(__file__).parent / "data" / "codex_0.169.0_request.json"


@pytest.fixture
def codex_request() -> dict[str, Any]:
    """A fresh copy of the captured Codex request (streamed, last message: use exec_command)."""
    request: dict[str, Any] = json.loads(CAPTURE.read_text())
    return copy.deepcopy(request)


def post(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    """``POST /v1/responses`` with ``body``."""
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/responses", json=body, headers=headers, timeout=30)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``data:`` payloads of an SSE body."""
    return [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def done_items(response: httpx.Response) -> list[dict[str, Any]]:
    """The output items of a stream, as ``response.output_item.done`` carried them."""
    return [e["item"] for e in events(response) if e["type"] == "response.output_item.done"]


def last_chat_body(fake: FakeOllamaProcess) -> dict[str, Any]:
    """The body of the last ``/api/chat`` request the fake received."""
    body: dict[str, Any] = fake.requests(path="/api/chat")[-1]["body"]
    return body


def ask(request: dict[str, Any], text: str) -> dict[str, Any]:
    """``request`` with its last user message replaced by ``text``."""
    request["input"][-1]["content"] = [{"type": "input_text", "text": text}]
    return request


def test_codex_turn_streams_a_call_of_its_tool(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    codex_request: dict[str, Any],
) -> None:
    response = post(gateway_url, gateway_api_key, codex_request)
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-dropped-tools"] == "web_search"
    assert events(response)[-1]["type"] == "response.completed"
    call = done_items(response)[-1]
    assert (call["type"], call["name"]) == ("function_call", "exec_command")
    assert "namespace" not in call
    assert json.loads(call["arguments"])["cmd"]

    sent = last_chat_body(fake_ollama)
    names = [tool["function"]["name"] for tool in sent["tools"]]
    assert "multi_agent_v1__spawn_agent" in names
    assert "web_search" not in names
    assert [m["role"] for m in sent["messages"]] == ["system", "system", "user", "user"]


def test_a_namespaced_call_comes_back_under_its_namespace_and_goes_out_flat(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    codex_request: dict[str, Any],
) -> None:
    request = ask(codex_request, "Start a helper with multi_agent_v1__spawn_agent")
    call = done_items(post(gateway_url, gateway_api_key, request))[-1]
    assert (call["name"], call["namespace"]) == ("spawn_agent", "multi_agent_v1")

    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "agent 7"}
    request["input"] += [call, output]
    assert post(gateway_url, gateway_api_key, request).status_code == 200
    assistant, tool = last_chat_body(fake_ollama)["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert (tool["tool_name"], tool["content"]) == ("multi_agent_v1__spawn_agent", "agent 7")


def test_reasoning_goes_out_encrypted_and_comes_back_as_thinking(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    codex_request: dict[str, Any],
) -> None:
    response = post(gateway_url, gateway_api_key, codex_request)
    reasoning = next(item for item in done_items(response) if item["type"] == "reasoning")
    sealed = reasoning["encrypted_content"]
    assert sealed.startswith(PREFIX)
    text = base64.b64decode(sealed[len(PREFIX) :]).decode()
    assert text == reasoning["content"][0]["text"]

    # Codex sends the reasoning item back with its encrypted_content only.
    returned = {"type": "reasoning", "summary": [], "encrypted_content": sealed}
    codex_request["input"] += [
        returned,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]},
    ]
    assert post(gateway_url, gateway_api_key, codex_request).status_code == 200
    assistant = last_chat_body(fake_ollama)["messages"][-2]
    assert assistant == {"role": "assistant", "content": "ok", "thinking": text}


def test_altered_encrypted_reasoning_is_a_400_naming_the_item(
    gateway_url: str, gateway_api_key: str
) -> None:
    body = {
        "input": [
            {"type": "reasoning", "summary": [], "encrypted_content": PREFIX + "not base64!"},
            {"type": "message", "role": "user", "content": "hi"},
        ]
    }
    response = post(gateway_url, gateway_api_key, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "input[0].encrypted_content"
    assert "send it back as it was received" in error["message"]


def test_encrypted_reasoning_is_only_sent_when_included(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = post(gateway_url, gateway_api_key, {"input": "hi"}).json()
    assert "encrypted_content" not in response["output"][0]


def test_left_out_hosted_tools_are_logged_at_info(
    gateway_factory: Callable[..., str],
    gateway_api_key: str,
    codex_request: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = gateway_factory(log_level="INFO")
    assert post(url, gateway_api_key, codex_request).status_code == 200
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "hosted" in line]
    (line,) = [line for line in lines if line.get("msg", "").startswith("left out hosted tools")]
    assert (line["level"], line["tools"], line["model"]) == ("INFO", ["web_search"], "gpt-oss:20b")
