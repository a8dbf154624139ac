"""The fake's non-generation endpoints: server info, model management, embeddings, admin."""

from __future__ import annotations

import math
import re

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.fake_ollama.fake_ollama_support import RFC3339_NANO, chat, post

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_root_answers_get_and_head_in_plain_text(fake_ollama: FakeOllamaProcess) -> None:
    got = httpx.get(fake_ollama.url + "/", timeout=5)
    assert (got.status_code, got.text) == (200, "Ollama is running")
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    head = httpx.head(fake_ollama.url + "/", timeout=5)
    assert (head.status_code, head.content) == (200, b"")
    assert "server" not in got.headers


def test_version_is_the_knob(fake_ollama: FakeOllamaProcess) -> None:
    assert httpx.get(fake_ollama.url + "/api/version", timeout=5).json() == {"version": "0.32.15"}
    fake_ollama.configure(version="0.11.4")
    assert httpx.get(fake_ollama.url + "/api/version", timeout=5).json() == {"version": "0.11.4"}
    assert httpx.head(fake_ollama.url + "/api/version", timeout=5).status_code == 200


def test_unknown_path_is_gins_plain_404_and_wrong_method_405(
    fake_ollama: FakeOllamaProcess,
) -> None:
    missing = httpx.get(fake_ollama.url + "/metrics", timeout=5)
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert missing.headers["content-type"] == "text/plain"
    wrong = httpx.get(fake_ollama.url + "/api/chat", timeout=5)
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")


def test_tags_lists_the_start_models_with_gpt_oss_details(fake_ollama: FakeOllamaProcess) -> None:
    (model,) = httpx.get(fake_ollama.url + "/api/tags", timeout=5).json()["models"]
    assert model["name"] == model["model"] == "gpt-oss:20b"
    assert HEX64.match(model["digest"])
    assert RFC3339_NANO.match(model["modified_at"])
    assert isinstance(model["size"], int)
    assert model["size"] > 13_000_000_000
    assert model["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "gptoss",
        "families": ["gptoss"],
        "parameter_size": "20.9B",
        "quantization_level": "MXFP4",
    }


def test_ps_shows_a_model_after_use_until_unloaded(fake_ollama: FakeOllamaProcess) -> None:
    url = fake_ollama.url + "/api/ps"
    assert httpx.get(url, timeout=5).json() == {"models": []}
    chat(fake_ollama, stream=False)
    (loaded,) = httpx.get(url, timeout=5).json()["models"]
    assert loaded["name"] == "gpt-oss:20b"
    assert loaded["size_vram"] == loaded["size"]
    assert loaded["context_length"] == 8192
    assert RFC3339_NANO.match(loaded["expires_at"])
    chat(fake_ollama, messages=[], keep_alive=0)
    assert httpx.get(url, timeout=5).json() == {"models": []}


def test_show_describes_gpt_oss_and_404s_with_the_normalised_name(
    fake_ollama: FakeOllamaProcess,
) -> None:
    shown = post(fake_ollama, "/api/show", {"model": "gpt-oss:20b"}).json()
    assert shown["capabilities"] == ["completion", "tools", "thinking"]
    assert shown["model_info"]["general.architecture"] == "gptoss"
    assert shown["model_info"]["gptoss.context_length"] == 131072
    assert shown["details"]["family"] == "gptoss"
    assert "license" in shown
    assert "modelfile" in shown
    assert "template" in shown
    missing = post(fake_ollama, "/api/show", {"model": "foo"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'foo:latest' not found"})


def test_copy_and_delete_answer_empty_200s_and_404s(fake_ollama: FakeOllamaProcess) -> None:
    copied = post(fake_ollama, "/api/copy", {"source": "gpt-oss:20b", "destination": "mine"})
    assert (copied.status_code, copied.content) == (200, b"")
    names = {
        m["name"] for m in httpx.get(fake_ollama.url + "/api/tags", timeout=5).json()["models"]
    }
    assert names == {"gpt-oss:20b", "mine:latest"}
    assert chat(fake_ollama, model="mine", stream=False).json()["message"]["thinking"]
    deleted = httpx.request("DELETE", fake_ollama.url + "/api/delete", json={"model": "mine"})
    assert (deleted.status_code, deleted.content) == (200, b"")
    again = httpx.request("DELETE", fake_ollama.url + "/api/delete", json={"model": "mine"})
    assert (again.status_code, again.json()) == (404, {"error": "model 'mine' not found"})
    lost = post(fake_ollama, "/api/copy", {"source": "nope", "destination": "x"})
    assert lost.status_code == 404


def test_create_from_a_model_streams_status_and_adds_it(fake_ollama: FakeOllamaProcess) -> None:
    body = {"model": "pirate", "from": "gpt-oss:20b", "system": "Talk like a pirate."}
    lines = post(fake_ollama, "/api/create", body).text.splitlines()
    assert lines[-1] == '{"status":"success"}'
    shown = post(fake_ollama, "/api/show", {"model": "pirate"}).json()
    assert shown["system"] == "Talk like a pirate."
    bare = post(fake_ollama, "/api/create", {"model": "empty", "stream": False})
    assert bare.status_code == 400


def test_push_streams_until_success(fake_ollama: FakeOllamaProcess) -> None:
    lines = post(fake_ollama, "/api/push", {"model": "gpt-oss:20b"}).text.splitlines()
    assert lines[0] == '{"status":"retrieving manifest"}'
    assert lines[-1] == '{"status":"success"}'


def test_embed_returns_deterministic_unit_vectors(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=["nomic-embed-text"])
    first = post(fake_ollama, "/api/embed", {"model": "nomic-embed-text", "input": ["a b", "c"]})
    body = first.json()
    assert len(body["embeddings"]) == 2
    assert all(len(vector) == 768 for vector in body["embeddings"])
    assert all(math.isclose(math.hypot(*v), 1.0) for v in body["embeddings"])
    assert body["prompt_eval_count"] == 3
    assert body["total_duration"] > 0
    single = post(fake_ollama, "/api/embed", {"model": "nomic-embed-text", "input": "a b"}).json()
    assert single["embeddings"][0] == body["embeddings"][0]
    cut = post(
        fake_ollama, "/api/embed", {"model": "nomic-embed-text", "input": "a", "dimensions": 8}
    )
    assert len(cut.json()["embeddings"][0]) == 8
    empty = post(fake_ollama, "/api/embed", {"model": "nomic-embed-text", "input": []}).json()
    assert empty == {"model": "nomic-embed-text", "embeddings": []}


def test_embed_errors(fake_ollama: FakeOllamaProcess) -> None:
    missing = post(fake_ollama, "/api/embed", {"model": "foo", "input": "x"})
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": 'model "foo" not found, try pulling it first'},
    )
    bad = post(fake_ollama, "/api/embed", {"model": "gpt-oss:20b", "input": [1, 2]})
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid input type"})


def test_legacy_embeddings_shape(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(embed_dim=16, models=["nomic-embed-text"])
    request = {"model": "nomic-embed-text", "prompt": "hi"}
    body = post(fake_ollama, "/api/embeddings", request).json()
    assert list(body) == ["embedding"]
    assert len(body["embedding"]) == 16
    empty = post(fake_ollama, "/api/embeddings", {**request, "prompt": ""}).json()
    assert empty == {"embedding": []}


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://localhost:3000", 200), ("https://evil.example", 403), ("app://x", 200)],
)
def test_cors_origins_like_ollama(fake_ollama: FakeOllamaProcess, origin: str, status: int) -> None:
    response = httpx.get(fake_ollama.url + "/api/tags", headers={"Origin": origin}, timeout=5)
    assert response.status_code == status


def test_requests_are_recorded_with_headers_and_body(fake_ollama: FakeOllamaProcess) -> None:
    chat(fake_ollama, headers={"X-Request-ID": "rid-7"}, stream=False)
    (entry,) = fake_ollama.requests(path="/api/chat")
    assert entry["request_id"] == "rid-7"
    assert entry["headers"]["x-request-id"] == "rid-7"
    assert entry["body"]["stream"] is False
    assert (entry["method"], entry["status"], entry["cancelled"]) == ("POST", 200, False)


def test_config_round_trips_rejects_bad_knobs_and_reset_restores(
    fake_ollama: FakeOllamaProcess,
) -> None:
    assert fake_ollama.configure(content_tokens=3)["content_tokens"] == 3
    bad = post(fake_ollama, "/_fake/config", {"content_tokens": "many"})
    assert bad.status_code == 400
    assert "integer" in bad.json()["error"]
    unknown = post(fake_ollama, "/_fake/config", {"colour": "red"})
    assert unknown.status_code == 400
    assert "unknown knob" in unknown.json()["error"]
    fake_ollama.reset()
    assert fake_ollama.call("GET", "/_fake/config")["content_tokens"] == 12
    assert fake_ollama.requests() == []
