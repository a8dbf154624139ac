"""The context window (gateway.openai_api.context_window): advertised, flagged, refused.

Ollama 0.32.15 cuts a prompt longer than its context window without an error (server/prompt.go
drops the oldest messages, llm/llama_server.go keeps the start and tail of one long prompt); the
fake does the same (tests/unit/fake_ollama/test_fake_ollama_structured.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.context import RequestContext
from gateway.errors import InvalidRequest
from gateway.openai_api.context_window import check_context, estimate_prompt_tokens
from tests.unit.gateway.openai_api.chat_support import auth, chat, post, sse_payloads

WINDOW = 256
# 600 two-byte words: about 304 tokens by the gateway's estimate (1200 bytes / 4 + 4), over the
# window but not twice over it; 604 tokens for the fake, which cuts them.
LONG = " ".join(["a"] * 600)
HUGE = "x" * (2 * WINDOW * 4 + 100)


@pytest.fixture
def small_window(gateway_factory: Callable[..., str], fake_ollama: FakeOllamaProcess) -> str:
    """A gateway and a fake Ollama both running with a 256-token context window."""
    fake_ollama.configure(context_length=WINDOW)
    return gateway_factory(context_length=WINDOW)


def test_the_context_length_is_advertised(small_window: str, gateway_api_key: str) -> None:
    models = httpx.get(f"{small_window}/v1/models", headers=auth(gateway_api_key), timeout=10)
    assert models.json()["data"]
    assert {entry["context_length"] for entry in models.json()["data"]} == {WINDOW}
    one = httpx.get(
        f"{small_window}/v1/models/gpt-oss-20b", headers=auth(gateway_api_key), timeout=10
    )
    assert one.json()["context_length"] == WINDOW
    assert httpx.get(f"{small_window}/health/ready", timeout=10).json()["context_length"] == WINDOW


def test_a_prompt_that_fits_is_not_flagged(small_window: str, gateway_api_key: str) -> None:
    answer = chat(small_window, gateway_api_key)
    assert answer.status_code == 200
    assert "x-prompt-truncated" not in answer.headers


def test_a_prompt_ollama_will_cut_is_answered_with_a_flag(
    small_window: str, gateway_api_key: str
) -> None:
    messages = [{"role": "user", "content": LONG}]
    answer = chat(small_window, gateway_api_key, messages=messages)
    assert answer.status_code == 200
    assert answer.headers["x-prompt-truncated"] == "true"
    # The fake cut the prompt like Ollama: the model saw num_ctx - (num_ctx - 4) // 2 tokens.
    assert answer.json()["usage"]["prompt_tokens"] == WINDOW - (WINDOW - 4) // 2
    streamed = chat(small_window, gateway_api_key, messages=messages, stream=True)
    assert streamed.headers["x-prompt-truncated"] == "true"
    assert sse_payloads(streamed.content)[-1] == "[DONE]"
    completion = post(
        small_window, gateway_api_key, "/v1/completions", {"model": "gpt-oss-20b", "prompt": LONG}
    )
    assert completion.headers["x-prompt-truncated"] == "true"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": HUGE}]}, "messages"),
        ("/v1/completions", {"prompt": HUGE}, "prompt"),
        ("/v1/responses", {"input": HUGE}, "input"),
    ],
)
def test_a_prompt_over_twice_the_window_is_refused_before_ollama_is_asked(
    small_window: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    path: str,
    body: dict[str, object],
    param: str,
) -> None:
    refused = post(small_window, gateway_api_key, path, {"model": "gpt-oss-20b", **body})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert f"context window is {WINDOW} tokens" in error["message"]
    assert "Shorten the conversation" in error["message"]
    assert not fake_ollama.requests(path="/api/chat")
    assert not fake_ollama.requests(path="/api/generate")


def test_a_flagged_prompt_is_logged_without_its_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.context_window")
    ctx = RequestContext(
        request_id="r1", method="POST", path="/v1/chat/completions", client_ip=None
    )
    body = {"messages": [{"role": "user", "content": "secret " * 200}]}
    check_context(body, WINDOW, ctx, "messages")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["estimated_tokens"] == estimate_prompt_tokens(body)
    assert record.__dict__["context_length"] == WINDOW
    assert "secret" not in caplog.text
    assert ctx.response_headers == {"X-Prompt-Truncated": "true"}
    with pytest.raises(InvalidRequest):
        check_context({"prompt": HUGE}, WINDOW, ctx, "prompt")


def test_the_estimate_counts_text_tools_and_message_framing() -> None:
    one = {"messages": [{"role": "user", "content": "abcd" * 10}]}
    assert estimate_prompt_tokens(one) == 10 + 4
    two = {"messages": [{"role": "system", "content": "é" * 4}, *one["messages"]]}
    assert estimate_prompt_tokens(two) == (8 + 40) // 4 + 8  # UTF-8 bytes, 4 per message
    tools = [{"type": "function", "function": {"name": "f" * 100}}]
    assert estimate_prompt_tokens({**one, "tools": tools}) > estimate_prompt_tokens(one) + 25
    assert estimate_prompt_tokens({"prompt": "abcd" * 10, "system": "abcd"}) == 11 + 4
