"""A tool call Ollama cannot parse (``error parsing tool call``, Ollama 0.32.15's harmony parser).

Ollama sends that error in place of its final chunk when gpt-oss wrote malformed arguments or a
call cut by the token limit (harmony/harmonyparser.go, server/routes.go). The gateway asks again
once while nothing has reached the client (whole answers; streams before Ollama's first chunk),
and otherwise answers a model error (502 ``model_output_invalid``), not "retry the gateway". The
fake's ``tool-parse-error`` fault sends the error; ``tool-parse-error-once`` only the first time
it sees a body, so the gateway's second attempt succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import auth, chat, post, sse_payloads

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris? Use get_weather"}]
ONCE = "fault-tool-parse-error-once"
ALWAYS = "fault-tool-parse-error"


def tool_chat(url: str, key: str, model: str, **fields: Any) -> httpx.Response:
    """A chat completion that makes the fake's gpt-oss call ``get_weather``."""
    return chat(url, key, model=model, messages=ASK, tools=[WEATHER_TOOL], **fields)


def chat_attempts(fake: FakeOllamaProcess) -> int:
    """How many generations the fake Ollama received."""
    return len(fake.requests(path="/api/chat"))


def assert_model_error(error: dict[str, Any]) -> None:
    """The model error: 502-class ``model_output_invalid``, saying what to do."""
    assert error["code"] == "model_output_invalid"
    assert error["type"] == "api_error"
    message = error["message"]
    assert "invalid tool call" in message
    assert "error parsing tool call" in message  # Ollama's own words
    assert "Retrying the request may produce a valid one" in message
    assert "max_tokens" in message
    assert "temperature" in message
    assert "docker compose logs" not in message  # nothing is wrong with the stack


def test_whole_answer_is_asked_again_once_and_bills_the_second_attempt_only(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reference = tool_chat(gateway_url, gateway_api_key, "gpt-oss:20b").json()
    fake_ollama.reset()
    response = tool_chat(gateway_url, gateway_api_key, ONCE)
    assert response.status_code == 200, response.text
    answer = response.json()
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    # The failed attempt's reasoning is gone: the answer is the second attempt's alone.
    assert choice["message"]["reasoning"] == reference["choices"][0]["message"]["reasoning"]
    assert chat_attempts(fake_ollama) == 2
    assert answer["usage"] == reference["usage"]  # one attempt's tokens, not two


def test_whole_answer_that_fails_twice_is_a_502_model_error(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = tool_chat(gateway_url, gateway_api_key, ALWAYS)
    assert response.status_code == 502
    assert_model_error(response.json()["error"])
    assert chat_attempts(fake_ollama) == 2  # asked again once, not more


def test_stream_failing_before_its_first_chunk_is_asked_again(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # No reasoning: Ollama has written nothing when the call fails, so it answers a 500.
    fake_ollama.configure(thinking_tokens=0)
    response = tool_chat(
        gateway_url, gateway_api_key, ONCE, stream=True, stream_options={"include_usage": True}
    )
    assert response.status_code == 200
    payloads = sse_payloads(response.content)
    assert payloads[-1] == "[DONE]"
    assert not [p for p in payloads if isinstance(p, dict) and "error" in p]
    calls = [
        call
        for p in payloads[:-1]
        if p["choices"]
        for call in p["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    assert payloads[-2]["usage"]["completion_tokens"] == fake_ollama.configure()["content_tokens"]
    assert chat_attempts(fake_ollama) == 2


def test_stream_failing_twice_before_its_first_chunk_is_a_502(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=0)
    response = tool_chat(gateway_url, gateway_api_key, ALWAYS, stream=True)
    assert response.status_code == 502
    assert_model_error(response.json()["error"])
    assert chat_attempts(fake_ollama) == 2


def test_stream_failing_mid_answer_ends_with_the_model_error_event(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # gpt-oss reasons first: the reasoning has reached the client when the call fails.
    response = tool_chat(gateway_url, gateway_api_key, ONCE, stream=True)
    assert response.status_code == 200
    payloads = sse_payloads(response.content)
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any(p["choices"][0]["delta"].get("reasoning") for p in payloads[1:-1])
    assert_model_error(payloads[-1]["error"])
    assert "[DONE]" not in payloads
    assert chat_attempts(fake_ollama) == 1  # what was sent cannot be taken back


def test_call_cut_by_max_tokens_is_the_model_error_not_a_gateway_failure(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # No fault: 8 reasoning tokens, then max_tokens stops inside the call's arguments, and the
    # fake answers like Ollama 0.32.15 (error parsing tool call). Asked again, it is cut again.
    response = tool_chat(gateway_url, gateway_api_key, "gpt-oss:20b", max_tokens=10)
    assert response.status_code == 502
    assert_model_error(response.json()["error"])
    assert chat_attempts(fake_ollama) == 2
    assert [r["body"]["options"]["num_predict"] for r in fake_ollama.requests("/api/chat")] == [
        10,
        10,
    ]


def test_retry_frees_its_admission_slot(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(ollama_parallel=1)
    assert tool_chat(url, gateway_api_key, ONCE).status_code == 200
    assert tool_chat(url, gateway_api_key, ALWAYS).status_code == 502
    fake_ollama.configure(thinking_tokens=0)
    assert tool_chat(url, gateway_api_key, ALWAYS, stream=True).status_code == 502
    assert chat(url, gateway_api_key).status_code == 200  # a leaked slot would leave none
    queue = httpx.get(f"{url}/health/ready", timeout=30).json()["queue"]
    assert (queue["in_flight"], queue["queued"]) == (0, 0)
    assert fake_ollama.stats()["peak_generations_in_flight"] == 1


RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL["function"]}


def responses(url: str, key: str, model: str, **fields: Any) -> httpx.Response:
    """``POST /v1/responses`` asking for the weather tool."""
    body = {"model": model, "input": ASK[0]["content"], "tools": [RESPONSES_TOOL], **fields}
    return post(url, key, "/v1/responses", body)


def test_responses_whole_answer_is_asked_again(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    reference = responses(gateway_url, gateway_api_key, "gpt-oss:20b").json()
    fake_ollama.reset()
    response = responses(gateway_url, gateway_api_key, ONCE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert [item["type"] for item in body["output"]] == ["reasoning", "function_call"]
    assert body["usage"] == reference["usage"]
    assert chat_attempts(fake_ollama) == 2
    failing = responses(gateway_url, gateway_api_key, ALWAYS)
    assert failing.status_code == 502
    assert_model_error(failing.json()["error"])


def test_responses_stream_failing_mid_answer_is_response_failed(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = responses(gateway_url, gateway_api_key, ALWAYS, stream=True)
    assert response.status_code == 200
    assert b"event: response.failed" in response.content
    assert b"invalid tool call" in response.content
    assert chat_attempts(fake_ollama) == 1


def test_native_chat_relays_ollamas_error_unchanged(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {"model": ALWAYS, "messages": ASK, "tools": [WEATHER_TOOL]}
    direct = httpx.post(f"{fake_ollama.url}/api/chat", json=body, timeout=10)
    relayed = httpx.post(
        f"{gateway_url}/api/chat", json=body, headers=auth(gateway_api_key), timeout=10
    )
    assert relayed.status_code == direct.status_code == 200
    assert relayed.content.splitlines()[-1] == direct.content.splitlines()[-1]
    assert relayed.content.splitlines()[-1].startswith(b'{"error":"error parsing tool call: ')
    whole = httpx.post(
        f"{gateway_url}/api/chat",
        json={**body, "stream": False},
        headers=auth(gateway_api_key),
        timeout=10,
    )
    assert whole.status_code == 500
    assert whole.json()["error"].startswith("error parsing tool call: raw='{")
    assert chat_attempts(fake_ollama) == 3  # the native API is not asked again
