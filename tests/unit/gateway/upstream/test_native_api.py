"""Ollama's native API through the gateway: the official ``ollama`` client, raw HTTP, faults."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import ollama
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import free_port, running_gateway
from tests.support.waiting import PATIENCE, leaving_request, wait_until
from tests.unit.gateway.openai_api.sdk_clients import ollama_client

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(gateway_url: str, gateway_api_key: str) -> ollama.Client:
    """The ollama client pointed at the session gateway."""
    return ollama_client(gateway_url, gateway_api_key)


def auth(key: str) -> dict[str, str]:
    """The bearer header."""
    return {"Authorization": f"Bearer {key}"}


def test_chat_whole_answer(client: ollama.Client, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(thinking_tokens=4, content_tokens=5)
    reply = client.chat(model="gpt-oss:20b", messages=HI, think="high")
    assert reply.message.content == "Fake answer to: hi lorem"
    assert reply.message.thinking == "Reasoning (high) about: hi"
    assert reply.done_reason == "stop"
    assert (reply.prompt_eval_count, reply.eval_count) == (5, 9)
    upstream = fake_ollama.requests(path="/api/chat")[-1]["body"]
    assert upstream["stream"] is False  # the body went up unchanged
    assert upstream["think"] == "high"


def test_chat_stream(client: ollama.Client, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(thinking_tokens=3, content_tokens=4)
    parts = list(client.chat(model="gpt-oss:20b", messages=HI, stream=True))
    assert len(parts) == 3 + 4 + 1
    assert "".join(p.message.content or "" for p in parts) == "Fake answer to: hi"
    assert [p.done for p in parts].count(True) == 1
    assert parts[-1].done


def test_generate_and_embed(client: ollama.Client, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=["gpt-oss:20b", "nomic-embed-text"])
    assert (client.generate(model="gpt-oss:20b", prompt="hi").response or "").startswith("Fake")
    assert len(client.embed(model="nomic-embed-text", input=["a", "b"]).embeddings) == 2
    legacy = httpx.post(
        f"{client._client.base_url}/api/embeddings",
        json={"model": "nomic-embed-text", "prompt": "a"},
        headers=dict(client._client.headers),
        timeout=5,
    )
    assert legacy.status_code == 200
    assert len(legacy.json()["embedding"]) > 0
    # Ollama's own refusal of gpt-oss (501, llama-server without --embeddings) is relayed as is.
    with pytest.raises(ollama.ResponseError) as refused:
        client.embed(model="gpt-oss:20b", input="a")
    assert refused.value.status_code == 501


def test_list_show_and_ps(client: ollama.Client) -> None:
    assert [m.model for m in client.list().models] == ["gpt-oss:20b"]
    assert "thinking" in (client.show("gpt-oss:20b").capabilities or [])
    client.generate(model="gpt-oss:20b", prompt="load it")
    assert [m.model for m in client.ps().models] == ["gpt-oss:20b"]


def test_read_only_routes_are_relayed_byte_for_byte(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    for path in ("/api/tags", "/api/version", "/api/ps"):
        direct = httpx.get(f"{fake_ollama.url}{path}", timeout=5)
        relayed = httpx.get(f"{gateway_url}{path}", headers=auth(gateway_api_key), timeout=5)
        assert (relayed.status_code, relayed.content) == (direct.status_code, direct.content)
        assert relayed.headers["content-type"] == direct.headers["content-type"]
    for path in ("/api/tags", "/api/version"):
        head = httpx.head(f"{gateway_url}{path}", headers=auth(gateway_api_key), timeout=5)
        assert (head.status_code, head.content) == (200, b"")


def test_ollama_errors_keep_their_status_and_body(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="no-such-model", messages=HI)
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'no-such-model' not found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/pull"),
        ("POST", "/api/push"),
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/blobs/sha256:" + "0" * 64),
        ("HEAD", "/api/blobs/sha256:" + "0" * 64),
    ],
)
def test_model_management_is_forbidden(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, method: str, path: str
) -> None:
    response = httpx.request(
        method, f"{gateway_url}{path}", json={"model": "x"}, headers=auth(gateway_api_key)
    )
    assert response.status_code == 403
    if method != "HEAD":
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("permission_error", "admin_key_required")
        assert "admin key" in error["message"]
    assert fake_ollama.requests(path=path.split("/sha256")[0]) == []


def test_pull_with_the_ollama_client_raises_403(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("llama3.2")
    assert caught.value.status_code == 403
    assert "admin key" in str(caught.value)


def test_request_id_is_forwarded_and_echoed(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    response = httpx.post(
        f"{gateway_url}/api/generate",
        json={"model": "gpt-oss:20b", "prompt": "hi", "stream": False},
        headers={**auth(gateway_api_key), "X-Request-ID": "native-req-42"},
        timeout=5,
    )
    assert response.headers["x-request-id"] == "native-req-42"
    assert fake_ollama.requests(path="/api/generate")[-1]["request_id"] == "native-req-42"


def test_ndjson_arrives_incrementally(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # fault-slow: 1200 tokens 50 ms apart. Lines relayed one by one reach the client while
    # Ollama is still generating, not in one buffered burst at the end (or every few kB).
    fake_ollama.configure(thinking_tokens=0)
    with httpx.stream(
        "POST",
        f"{gateway_url}/api/chat",
        json={"model": "fault-slow", "messages": HI},
        headers=auth(gateway_api_key),
        timeout=PATIENCE,
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.iter_lines()
        first, second = next(lines), next(lines)
        (upstream,) = fake_ollama.requests(path="/api/chat")
        assert "duration_ms" not in upstream, "Ollama is still generating"
    assert json.loads(first)["message"]["content"]
    assert json.loads(second)["done"] is False
    (cancelled,) = wait_until(fake_ollama.cancelled, "the fake Ollama saw the client leave")
    # A gateway holding lines back would have let Ollama produce many more by then.
    assert cancelled["tokens_emitted"] < 400


def test_unreachable_ollama_is_503_in_the_envelope(gateway_api_key: str) -> None:
    closed_port = f"http://127.0.0.1:{free_port()}"
    with running_gateway(ollama_url=closed_port, retry_after_seconds=7, log_level="WARNING") as url:
        response = httpx.get(f"{url}/api/tags", headers=auth(gateway_api_key), timeout=5)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "ollama_unavailable"


def test_no_first_byte_is_504_in_the_envelope(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    url = gateway_factory(first_byte_timeout=0.3)
    response = httpx.post(
        f"{url}/api/chat",
        json={"model": "fault-hang", "messages": HI},
        headers=auth(gateway_api_key),
        timeout=5,
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_connection_dropped_mid_stream_ends_with_an_error_line(
    gateway_url: str, gateway_api_key: str
) -> None:
    client = ollama_client(gateway_url, gateway_api_key)
    parts = client.chat(model="fault-drop", messages=HI, stream=True)
    with pytest.raises(ollama.ResponseError) as caught:
        list(parts)
    assert "connection to Ollama broke" in str(caught.value)


def test_silence_mid_stream_ends_with_an_error_line(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(token_delay=0.8)
    url = gateway_factory(chunk_timeout=0.2)
    response = httpx.post(
        f"{url}/api/generate",
        json={"model": "gpt-oss:20b", "prompt": "hi"},
        headers=auth(gateway_api_key),
        timeout=5,
    )
    lines = response.text.splitlines()
    assert response.status_code == 200
    assert '"error":"gateway: Ollama went silent' in lines[-1]


def test_client_leaving_a_native_stream_cancels_ollama(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    with httpx.stream(
        "POST",
        f"{gateway_url}/api/chat",
        json={"model": "fault-slow", "messages": HI},
        headers=auth(gateway_api_key),
        timeout=PATIENCE,
    ) as response:
        next(response.iter_lines())
    cancelled = wait_until(fake_ollama.cancelled, "the fake Ollama saw the gateway hang up")
    assert [entry["path"] for entry in cancelled] == ["/api/chat"]


def test_client_leaving_a_whole_native_answer_cancels_ollama(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {"model": "fault-slow", "messages": HI, "stream": False}
    with leaving_request(f"{gateway_url}/api/chat", body, auth(gateway_api_key)):
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the request reached Ollama")
    cancelled = wait_until(fake_ollama.cancelled, "the fake Ollama saw the gateway hang up")
    assert [entry["path"] for entry in cancelled] == ["/api/chat"]
