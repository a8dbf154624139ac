"""``POST /v1/completions`` (legacy text completion) over Ollama's ``/api/generate``."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.openai_api.chat_support import auth, last_upstream_body, post, sse_payloads

PATH = "/v1/completions"


def complete(url: str, key: str, **body: Any) -> httpx.Response:
    """``POST /v1/completions`` (``prompt`` defaults to "Say hi")."""
    body.setdefault("prompt", "Say hi")
    return post(url, key, PATH, body)


def test_text_completion(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=2, content_tokens=4)
    response = complete(gateway_url, gateway_api_key, model="gpt-oss-20b", max_tokens=40, seed=3)
    assert response.status_code == 200
    reply = response.json()
    assert reply["id"].startswith("cmpl-")
    assert reply["object"] == "text_completion"
    assert reply["model"] == "gpt-oss-20b"
    assert reply["choices"] == [
        {"index": 0, "text": "Fake answer to: Say", "logprobs": None, "finish_reason": "stop"}
    ]
    assert reply["usage"] == {"prompt_tokens": 6, "completion_tokens": 6, "total_tokens": 12}
    assert last_upstream_body(fake_ollama, "/api/generate") == {
        "model": "gpt-oss:20b",
        "prompt": "Say hi",
        "options": {"num_predict": 40, "seed": 3},
        "stream": False,  # a whole answer is asked in one piece
    }


def test_prompt_as_a_list_of_one_string_and_suffix_on_a_model_that_can_insert(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(models=["gpt-oss:20b", "qwen2.5-coder:7b"])
    response = complete(
        gateway_url, gateway_api_key, model="qwen2.5-coder:7b", prompt=["def f():"], suffix="x"
    )
    assert response.status_code == 200
    sent = last_upstream_body(fake_ollama, "/api/generate")
    assert (sent["prompt"], sent["suffix"]) == ("def f():", "x")
    # An empty suffix asks for nothing: it is not sent.
    assert complete(gateway_url, gateway_api_key, suffix="").status_code == 200
    assert "suffix" not in last_upstream_body(fake_ollama, "/api/generate")


@pytest.mark.parametrize("stream", [False, True])
def test_suffix_on_gpt_oss_is_a_400_naming_suffix_and_the_insert_capability(
    gateway_url: str, gateway_api_key: str, stream: bool
) -> None:
    # Ollama 0.32.15 answers 400 "registry.ollama.ai/library/gpt-oss:20b does not support insert"
    # (server/routes.go GenerateHandler asks for "insert" when suffix is non-empty).
    response = complete(gateway_url, gateway_api_key, suffix="return 1", stream=stream)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("suffix", "model_capability_missing")
    assert "insert" in error["message"]
    assert "gpt-oss:20b" in error["message"]
    assert "Retry" not in error["message"]


def test_length_and_unique_ids(gateway_url: str, gateway_api_key: str) -> None:
    first = complete(gateway_url, gateway_api_key, max_tokens=2).json()
    second = complete(gateway_url, gateway_api_key, max_tokens=2).json()
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["choices"][0]["text"] == ""  # the budget went to reasoning
    assert first["id"] != second["id"]


def test_stream_framing_byte_for_byte(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(thinking_tokens=1, content_tokens=2)
    response = complete(
        gateway_url, gateway_api_key, stream=True, stream_options={"include_usage": True}
    )
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    first = sse_payloads(response.content)[0]
    envelope = {
        "id": first["id"],
        "object": "text_completion",
        "created": first["created"],
        "model": "gpt-oss:20b",
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**envelope, "choices": choices, **extra}) + b"\n\n"

    def choice(text: str, finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}

    usage = {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
    assert response.content == (
        event([choice("Fake")])
        + event([choice(" answer")])
        + event([choice("", "stop")])
        + event([], usage=usage)
        + b"data: [DONE]\n\n"
    )


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"prompt": ["a", "b"]}, 400, "prompt"),
        ({"prompt": [1, 2, 3]}, 400, "prompt"),
        ({"n": 2}, 400, "n"),
        ({"model": "missing"}, 404, "model"),
    ],
)
def test_errors(
    gateway_url: str, gateway_api_key: str, fields: dict[str, Any], status: int, param: str
) -> None:
    response = complete(gateway_url, gateway_api_key, **fields)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_missing_prompt_is_400(gateway_url: str, gateway_api_key: str) -> None:
    response = httpx.post(f"{gateway_url}{PATH}", json={}, headers=auth(gateway_api_key))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


def test_mid_stream_failure_is_one_error_event(gateway_url: str, gateway_api_key: str) -> None:
    response = complete(gateway_url, gateway_api_key, model="fault-drop", stream=True)
    payloads = sse_payloads(response.content)
    assert payloads[-1]["error"]["code"] == "upstream_error"
    assert "[DONE]" not in payloads


def test_openai_sdk(gateway_url: str, gateway_api_key: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=gateway_api_key, max_retries=0)
    completion = client.completions.create(model="gpt-oss:20b", prompt="Say hi")
    assert completion.choices[0].text.startswith("Fake answer to: Say hi")
    streamed = client.completions.create(model="gpt-oss:20b", prompt="Say hi", stream=True)
    text = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    assert text == completion.choices[0].text
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="missing", prompt="x")


def test_stop_cuts_the_answer_only(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # A stop of "." also occurs in gpt-oss's reasoning, where Ollama itself would match it.
    response = complete(gateway_url, gateway_api_key, prompt="Say hello. Then bye", stop=["."])
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert (choice["text"], choice["finish_reason"]) == ("Fake answer to: Say hello", "stop")
    assert "stop" not in last_upstream_body(fake_ollama, "/api/generate")["options"]
