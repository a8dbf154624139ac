"""Structured output against Ollama 0.32.15's two passes (gateway.upstream.structured_output).

On gpt-oss Ollama reasons without the grammar, then answers in a second pass with the schema,
which llama-server converts only then: a schema it cannot convert fails after the reasoning, and
the second pass may keep the stream silent while it waits for the runner. The fake Ollama runs
the same two passes (tests/unit/fake_ollama/test_fake_ollama_structured.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import auth, chat, post, sse_payloads

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
# Accepted by the gateway (older llama.cpp ignored unknown formats), refused by the runner.
EMAIL = {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}


def schema_format(schema: object) -> dict[str, Any]:
    """A ``response_format`` asking for JSON matching ``schema``."""
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def assert_unsupported_schema(error: dict[str, Any], param: str, *words: str) -> None:
    """The 400 for a schema Ollama's runner cannot use, naming the problem and the way out."""
    assert error["code"] == "unsupported_json_schema"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "cannot be used for structured output" in error["message"]
    assert "simplify the schema" in error["message"]
    for word in words:
        assert word in error["message"]


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "properties": {"when": {"type": "datetime"}}}, "'datetime'"),
        ({"type": "string", "pattern": "[a-z]+"}, "must start with '^' and end with '$'"),
        ({"$ref": "#/$defs/missing", "$defs": {}}, "'#/$defs/missing'"),
        ({"$ref": "https://example.com/schema.json"}, "does not point inside the schema"),
        ({"anyOf": []}, "'anyOf' must be a non-empty array"),
        ({"type": "array", "items": {"enum": []}}, "'enum' must be a non-empty array"),
    ],
)
def test_a_schema_the_runner_cannot_convert_is_refused_before_ollama_is_asked(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    schema: dict[str, Any],
    problem: str,
) -> None:
    refused = chat(gateway_url, gateway_api_key, response_format=schema_format(schema))
    assert refused.status_code == 400
    assert_unsupported_schema(refused.json()["error"], "response_format", problem)
    text_format = {"format": {"type": "json_schema", "name": "answer", "schema": schema}}
    body = {"model": "gpt-oss-20b", "input": "hi", "text": text_format}
    responses = post(gateway_url, gateway_api_key, "/v1/responses", body)
    assert responses.status_code == 400
    assert_unsupported_schema(responses.json()["error"], "text.format.schema", problem)
    assert not fake_ollama.requests(path="/api/chat")


def test_a_supported_schema_answers_json_from_the_second_pass(
    gateway_url: str, gateway_api_key: str
) -> None:
    answer = chat(gateway_url, gateway_api_key, response_format=schema_format(PERSON))
    assert answer.status_code == 200, answer.text
    message = answer.json()["choices"][0]["message"]
    assert orjson.loads(message["content"]) == {"name": "fake-name", "age": 1}
    assert message["reasoning"]  # the first pass reasoned freely


def test_a_late_schema_failure_is_the_same_400_for_a_whole_answer(
    gateway_url: str, gateway_api_key: str
) -> None:
    refused = chat(gateway_url, gateway_api_key, response_format=schema_format(EMAIL))
    assert refused.status_code == 400
    assert_unsupported_schema(
        refused.json()["error"], "response_format", 'Unsupported string "format": "email"'
    )


def test_a_late_schema_failure_ends_a_stream_with_the_same_error_after_the_reasoning(
    gateway_url: str, gateway_api_key: str
) -> None:
    streamed = chat(gateway_url, gateway_api_key, response_format=schema_format(EMAIL), stream=True)
    assert streamed.status_code == 200  # the reasoning went out before the runner refused
    payloads = sse_payloads(streamed.content)
    deltas = [p["choices"][0]["delta"] for p in payloads[:-1] if p.get("choices")]
    assert any(delta.get("reasoning") for delta in deltas)
    assert_unsupported_schema(payloads[-1]["error"], "response_format", "email")


def test_the_silence_before_the_second_pass_gets_the_first_byte_timeout(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # The fake's second pass starts after first_token_delay (its prompt evaluation), longer
    # than the between-chunks limit: only a structured answer may stay silent that long.
    fake_ollama.configure(first_token_delay=1.5)
    url = gateway_factory(chunk_timeout=0.5, first_byte_timeout=60)
    answer = chat(url, gateway_api_key, response_format=schema_format(PERSON), stream=True)
    payloads = sse_payloads(answer.content)
    assert payloads[-1] == "[DONE]"
    content = "".join(
        p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1] if p["choices"]
    )
    assert orjson.loads(content) == {"name": "fake-name", "age": 1}


def test_the_native_relay_gives_a_structured_answer_the_first_byte_timeout_too(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(first_token_delay=1.5)
    url = gateway_factory(chunk_timeout=0.5, first_byte_timeout=60)
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
    answer = post(url, gateway_api_key, "/api/chat", {**body, "format": PERSON})
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    assert lines[-1]["done"] is True
    content = "".join(line["message"]["content"] for line in lines)
    assert orjson.loads(content) == {"name": "fake-name", "age": 1}


def test_a_schema_nested_too_deep_is_a_clear_400(gateway_url: str, gateway_api_key: str) -> None:
    # 1,000 levels: within what the gateway parses (1,024), beyond what JSON encoders write.
    schema = '{"type":"array","items":' * 1000 + '{"type":"string"}' + "}" * 1000
    rf = '{"type":"json_schema","json_schema":{"name":"deep","schema":' + schema + "}}"
    body = '{"messages":[{"role":"user","content":"hi"}],"response_format":' + rf + "}"
    refused = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        content=body.encode(),
        headers=auth(gateway_api_key, **{"Content-Type": "application/json"}),
        timeout=10,
    )
    assert refused.status_code == 400
    assert "nested more than 254 levels" in refused.json()["error"]["message"]
