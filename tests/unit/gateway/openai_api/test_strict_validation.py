"""Validation as strict as OpenAI's: no type coercion, bounded numbers, valid Unicode, and every
OpenAI parameter honoured, refused by name, or ignored (README "Parameters").

Each case was accepted (or was a 500) before; each now gets a 400 in the envelope naming the
parameter, and nothing reaches Ollama.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import HI
from tests.unit.gateway.openai_api.test_chat_errors import error_of

BIG = 1180591620717411303424  # 2**70
HUGE = "9" * 400

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
BASE = {
    CHAT: {"model": "gpt-oss-20b", "messages": HI},
    COMPLETIONS: {"model": "gpt-oss-20b", "prompt": "hi"},
    RESPONSES: {"model": "gpt-oss-20b", "input": "hi"},
    EMBEDDINGS: {"model": "gpt-oss-20b", "input": "hi"},
}


def nothing_generated(fake: FakeOllamaProcess) -> bool:
    """No request reached Ollama but the gateways' own readiness probes (``/api/tags``)."""
    return all(entry["path"] == "/api/tags" for entry in fake.requests())


def _post(url: str, key: str, path: str, content: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}{path}",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )


def _json(path: str, **fields: Any) -> bytes:
    return orjson.dumps({**BASE[path], **fields})


def _raw(path: str, field: str, literal: str) -> bytes:
    """The endpoint's base body with ``field`` set to a raw JSON literal (no encoder involved)."""
    return _json(path)[:-1] + f', "{field}": {literal}}}'.encode()


TYPE_CASES = [
    (CHAT, {"stream": "yes"}, "stream", "expected a boolean"),
    (CHAT, {"stream": 1}, "stream", "expected a boolean"),
    (CHAT, {"max_tokens": "100"}, "max_tokens", "expected an integer"),
    (CHAT, {"max_tokens": True}, "max_tokens", "expected an integer"),
    (CHAT, {"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
    (CHAT, {"temperature": "0.5"}, "temperature", "expected a number"),
    (CHAT, {"top_logprobs": -1}, "top_logprobs", "greater than or equal to 0"),
    (CHAT, {"logit_bias": "x"}, "logit_bias", "expected an object"),
    (CHAT, {"metadata": "x"}, "metadata", "expected an object"),
    (CHAT, {"modalities": ["smell"]}, "modalities.0", "'text' or 'audio'"),
    (CHAT, {"n": "1"}, "n", "expected an integer"),
    (CHAT, {"user": 5}, "user", "expected a string"),
    (CHAT, {"store": "no"}, "store", "expected a boolean"),
    (CHAT, {"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4 items"),
    (CHAT, {"messages": [{"role": "tool", "content": "42"}]}, "messages.0", "tool_call_id"),
    (CHAT, {"messages": [{"role": "user"}]}, "messages.0", "needs 'content'"),
    (CHAT, {"messages": [{"role": "assistant"}]}, "messages.0", "'content' or 'tool_calls'"),
    (CHAT, {"messages": [{"role": 1, "content": "x"}]}, "messages.0.role", "Input should be"),
    (COMPLETIONS, {"best_of": -1}, "best_of", "greater than or equal to 0"),
    (COMPLETIONS, {"echo": "string"}, "echo", "expected a boolean"),
    (COMPLETIONS, {"max_tokens": "100"}, "max_tokens", "expected an integer"),
    (COMPLETIONS, {"stream": "yes"}, "stream", "expected a boolean"),
    (RESPONSES, {"stream": "yes"}, "stream", "expected a boolean"),
    (RESPONSES, {"max_output_tokens": "5"}, "max_output_tokens", "expected an integer"),
    (RESPONSES, {"metadata": {"a": 1}}, "metadata.a", "expected a string"),
    (EMBEDDINGS, {"dimensions": "8"}, "dimensions", "expected an integer"),
    (EMBEDDINGS, {"encoding_format": "hex"}, "encoding_format", "'float' or 'base64'"),
]


@pytest.mark.parametrize(("path", "fields", "param", "hint"), TYPE_CASES)
def test_wrong_types_and_bounds_are_400_naming_the_parameter(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    path: str,
    fields: dict[str, Any],
    param: str,
    hint: str,
) -> None:
    response = _post(gateway_url, gateway_api_key, path, _json(path, **fields))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert hint in error["message"]
    assert nothing_generated(fake_ollama)


REFUSED = [
    (CHAT, {"logprobs": True}, "logprobs"),
    (CHAT, {"top_logprobs": 3}, "top_logprobs"),
    (CHAT, {"logit_bias": {"42": 5}}, "logit_bias"),
    (CHAT, {"modalities": ["text", "audio"]}, "modalities"),
    (CHAT, {"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
    (CHAT, {"web_search_options": {}}, "web_search_options"),
    (CHAT, {"functions": [{"name": "f"}]}, "functions"),
    (CHAT, {"function_call": "auto"}, "function_call"),
    (COMPLETIONS, {"best_of": 3}, "best_of"),
    (COMPLETIONS, {"echo": True}, "echo"),
    (COMPLETIONS, {"logprobs": 2}, "logprobs"),
]


@pytest.mark.parametrize(("path", "fields", "param"), REFUSED)
def test_parameters_this_server_cannot_honour_are_refused_by_name(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    path: str,
    fields: dict[str, Any],
    param: str,
) -> None:
    response = _post(gateway_url, gateway_api_key, path, _json(path, **fields))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, "unsupported_parameter")
    assert f"'{param}' is not supported" in error["message"]
    assert nothing_generated(fake_ollama)


IGNORED = {
    "logprobs": False,
    "top_logprobs": 0,
    "logit_bias": {},
    "metadata": {"team": "search"},
    "store": False,
    "service_tier": "auto",
    "prompt_cache_key": "k",
    "safety_identifier": "u-1",
    "modalities": ["text"],
    "verbosity": "low",
    "prediction": {"type": "content", "content": "x"},
}


def test_documented_ignored_parameters_are_accepted_and_not_forwarded(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = _post(gateway_url, gateway_api_key, CHAT, _json(CHAT, **IGNORED))
    assert response.status_code == 200, response.text
    forwarded = fake_ollama.requests("/api/chat")[-1]["body"]
    assert not set(IGNORED) & set(forwarded)


@pytest.mark.parametrize(
    ("path", "field", "literal", "param", "code"),
    [
        (CHAT, "seed", str(BIG), "seed", "invalid_value"),
        (CHAT, "max_tokens", str(BIG), "max_tokens", "invalid_value"),
        (CHAT, "seed", HUGE, "seed", "invalid_number"),
        (CHAT, "seed", str(2**63), "seed", "invalid_value"),
        (CHAT, "temperature", "1e400", "temperature", "invalid_number"),
        (CHAT, "temperature", "NaN", "temperature", "invalid_number"),
        (CHAT, "top_p", "-Infinity", "top_p", "invalid_number"),
        (COMPLETIONS, "seed", str(BIG), "seed", "invalid_value"),
        (RESPONSES, "max_output_tokens", str(BIG), "max_output_tokens", "invalid_value"),
        (EMBEDDINGS, "dimensions", HUGE, "dimensions", "invalid_number"),
    ],
)
def test_numbers_beyond_64_bits_or_not_finite_are_400_naming_the_field(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    path: str,
    field: str,
    literal: str,
    param: str,
    code: str,
) -> None:
    response = _post(gateway_url, gateway_api_key, path, _raw(path, field, literal))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, code)
    assert nothing_generated(fake_ollama)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            CHAT,
            b'{"model":"gpt-oss-20b","messages":[{"role":"user","content":"\\ud800"}]}',
            "messages.0.content",
        ),
        (CHAT, b'{"model":"gpt-oss-\\udfff","messages":[{"role":"user","content":"hi"}]}', "model"),
        (COMPLETIONS, b'{"model":"gpt-oss-20b","prompt":"a\\udc00b"}', "prompt"),
        (
            RESPONSES,
            b'{"model":"gpt-oss-20b","input":[{"role":"user","content":"\\ud83d"}]}',
            "input.0.content",
        ),
        (EMBEDDINGS, b'{"model":"gpt-oss-20b","input":["ok","\\ud800"]}', "input.1"),
    ],
)
def test_lone_surrogates_are_400_naming_the_field(
    gateway_url: str,
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    path: str,
    body: bytes,
    param: str,
) -> None:
    response = _post(gateway_url, gateway_api_key, path, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, "invalid_unicode")
    assert "surrogate" in error["message"]
    assert nothing_generated(fake_ollama)


def test_a_complete_surrogate_pair_is_valid_text(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = b'{"model":"gpt-oss-20b","messages":[{"role":"user","content":"\\ud83d\\ude00"}]}'
    response = _post(gateway_url, gateway_api_key, CHAT, body)
    assert response.status_code == 200, response.text
    assert fake_ollama.requests("/api/chat")[-1]["body"]["messages"][0]["content"] == "\U0001f600"


@pytest.mark.parametrize(
    ("body", "code", "hint"),
    [
        (b"[" * 5000 + b"]" * 5000, "invalid_json", "1024 levels"),
        (b'{"model": "gpt-oss-20b", "messages": [', "invalid_json", "line 1 column"),
        (b'{"model": "\xff\xfe"}', "invalid_encoding", "UTF-8"),
        (b"[1, 2]", "invalid_type", "must be a JSON object"),
    ],
)
def test_unreadable_bodies_are_400_saying_why(
    gateway_url: str, gateway_api_key: str, body: bytes, code: str, hint: str
) -> None:
    response = _post(gateway_url, gateway_api_key, CHAT, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code
    assert hint in error["message"]


NULLABLE = [
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "temperature",
    "top_p",
    "n",
    "tools",
    "tool_choice",
    "response_format",
    "stream_options",
    "metadata",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
]


def test_null_is_accepted_for_every_optional_parameter(
    gateway_url: str, gateway_api_key: str
) -> None:
    body = _json(CHAT, **dict.fromkeys(NULLABLE))
    response = _post(gateway_url, gateway_api_key, CHAT, body)
    assert response.status_code == 200, response.text
