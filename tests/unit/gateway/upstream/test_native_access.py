"""Key rights on my endpoints: admin keys manage models, model-limited keys use only theirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys
from tests.unit.gateway.openai_api.sdk_clients import ollama_client, openai_client

ADMIN_KEY = "sk-admin-0123456789abcdef0123456789abcdef"
LIMITED_KEY = "sk-limited-0123456789abcdef0123456789abcd"


@pytest.fixture
def keyed_gateway(tmp_path: Path, gateway_factory: Callable[..., str]) -> str:
    """A gateway with an admin key and a key limited to the embedding model."""
    keys = tmp_path / "keys.json"
    write_keys(
        keys,
        key_record(ADMIN_KEY, "ops", admin=True),
        key_record(LIMITED_KEY, "embedder", models=["nomic-embed-text"]),
    )
    return gateway_factory(keys_file=keys)


@pytest.fixture
def two_models(fake_ollama: FakeOllamaProcess) -> FakeOllamaProcess:
    """The fake with gpt-oss and an embedding model."""
    fake_ollama.configure(models=["gpt-oss:20b", "nomic-embed-text:latest"])
    return fake_ollama


def test_admin_key_pulls_through_the_gateway(
    keyed_gateway: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(pull_seconds=0.1)
    client = ollama_client(keyed_gateway, ADMIN_KEY)
    progress = list(client.pull("nomic-embed-text", stream=True))
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    assert "nomic-embed-text:latest" in [m.model for m in client.list().models]


def test_admin_key_deletes_through_the_gateway(
    keyed_gateway: str, two_models: FakeOllamaProcess
) -> None:
    client = ollama_client(keyed_gateway, ADMIN_KEY)
    assert client.delete("nomic-embed-text").status == "success"
    assert [m.model for m in client.list().models] == ["gpt-oss:20b"]


def test_limited_key_may_not_manage_models(keyed_gateway: str) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama_client(keyed_gateway, LIMITED_KEY).pull("llama3.2")
    assert caught.value.status_code == 403
    assert "'embedder' is not one" in str(caught.value)


def test_limited_key_uses_only_its_models_natively(
    keyed_gateway: str, two_models: FakeOllamaProcess
) -> None:
    client = ollama_client(keyed_gateway, LIMITED_KEY)
    assert len(client.embed(model="nomic-embed-text", input="x").embeddings) == 1
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="gpt-oss:20b", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 403
    assert two_models.requests(path="/api/chat") == []


def test_limited_key_sees_and_uses_only_its_models_over_openai(
    keyed_gateway: str, two_models: FakeOllamaProcess
) -> None:
    client = openai_client(keyed_gateway, LIMITED_KEY)
    assert [m.id for m in client.models.list().data] == ["nomic-embed-text:latest"]
    assert client.embeddings.create(model="nomic-embed-text", input="x").data
    for call in (
        lambda: client.models.retrieve("gpt-oss-20b"),
        lambda: client.embeddings.create(model="gpt-oss:20b", input="x"),
        lambda: client.responses.create(model="gpt-oss-20b", input="hi"),
    ):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            call()
        assert caught.value.code == "model_not_allowed"
    assert two_models.requests(path="/api/chat") == []


def test_admin_key_sees_every_model(keyed_gateway: str, two_models: FakeOllamaProcess) -> None:
    listed = {m.id for m in openai_client(keyed_gateway, ADMIN_KEY).models.list().data}
    assert listed == {"gpt-oss:20b", "gpt-oss-20b", "nomic-embed-text:latest"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"MODEL": "gpt-oss:20b", "prompt": "hi"}',  # Go matches keys case-insensitively
        b'{"model": "nomic-embed-text", "Model": "gpt-oss:20b", "prompt": "hi"}',
    ],
)
def test_limited_key_cannot_sneak_a_model_past_the_check(
    keyed_gateway: str, two_models: FakeOllamaProcess, body: bytes
) -> None:
    response = httpx.post(
        f"{keyed_gateway}/api/generate", content=body, headers=bearer(LIMITED_KEY), timeout=5
    )
    assert response.status_code == 403
    assert two_models.requests(path="/api/generate") == []


def test_unparsable_native_body_from_a_limited_key_is_refused(
    keyed_gateway: str, two_models: FakeOllamaProcess
) -> None:
    body = b'{"model": "gpt-oss:20b", "prompt": "\xff"}'  # invalid UTF-8: Go would accept it
    response = httpx.post(
        f"{keyed_gateway}/api/generate", content=body, headers=bearer(LIMITED_KEY), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert two_models.requests(path="/api/generate") == []
