"""``POST /v1/embeddings``: the official openai SDK and raw HTTP against the gateway + fake."""

from __future__ import annotations

import math
from typing import Any, cast

import httpx
import openai
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.context import RequestContext
from gateway.errors import InvalidRequest
from gateway.openai_api.embeddings import EmbeddingsService, encode_base64
from gateway.settings import Settings
from gateway.upstream.client import OllamaClient
from tests.unit.gateway.openai_api.sdk_clients import openai_client

EMBED_MODEL = "nomic-embed-text"


@pytest.fixture
def embed_fake(fake_ollama: FakeOllamaProcess) -> FakeOllamaProcess:
    """The fake with an embedding model next to gpt-oss."""
    fake_ollama.configure(models=["gpt-oss:20b", "nomic-embed-text:latest"])
    return fake_ollama


def post_embeddings(url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    """Raw ``POST /v1/embeddings``."""
    return httpx.post(
        f"{url}/v1/embeddings",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_single_string_gives_one_vector_and_usage(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess
) -> None:
    result = openai_client(gateway_url, gateway_api_key).embeddings.create(
        model=EMBED_MODEL, input="hello world"
    )
    assert result.object == "list"
    assert result.model == EMBED_MODEL
    assert [(item.object, item.index) for item in result.data] == [("embedding", 0)]
    vector = result.data[0].embedding
    assert len(vector) == 768
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-4)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (2, 2)
    upstream = embed_fake.requests(path="/api/embed")[-1]["body"]
    assert upstream == {"model": EMBED_MODEL, "input": ["hello world"]}


def test_list_input_keeps_order_and_sdk_base64_matches_floats(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess
) -> None:
    texts = ["first text", "second", "third one here"]
    # The SDK asks for base64 by default and decodes it to floats itself.
    decoded = openai_client(gateway_url, gateway_api_key).embeddings.create(
        model=EMBED_MODEL, input=texts
    )
    floats = post_embeddings(
        gateway_url, gateway_api_key, {"model": EMBED_MODEL, "input": texts}
    ).json()
    assert [item.index for item in decoded.data] == [0, 1, 2]
    assert [item["index"] for item in floats["data"]] == [0, 1, 2]
    for sdk_item, raw_item in zip(decoded.data, floats["data"], strict=True):
        assert sdk_item.embedding == pytest.approx(raw_item["embedding"], abs=1e-6)
    assert decoded.data[0].embedding != decoded.data[1].embedding
    assert decoded.usage.prompt_tokens == 2 + 1 + 3


def test_base64_is_little_endian_float32() -> None:
    assert encode_base64([1.0, -2.0]) == "AACAPwAAAMA="


def test_dimensions_are_forwarded(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess
) -> None:
    result = openai_client(gateway_url, gateway_api_key).embeddings.create(
        model=EMBED_MODEL, input="x", dimensions=64, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 64
    assert embed_fake.requests(path="/api/embed")[-1]["body"]["dimensions"] == 64


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]]])
def test_token_arrays_are_a_clear_400(
    gateway_url: str, gateway_api_key: str, tokens: list[Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(gateway_url, gateway_api_key).embeddings.create(
            model=EMBED_MODEL, input=tokens
        )
    assert caught.value.param == "input"
    assert "Token arrays are not supported" in caught.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": EMBED_MODEL, "input": []}, "input"),
        ({"model": EMBED_MODEL, "input": ["ok", {"text": "x"}]}, "input"),
        ({"model": EMBED_MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": EMBED_MODEL, "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "", "input": "x"}, "model"),
    ],
)
def test_invalid_requests_name_the_parameter(
    gateway_url: str, gateway_api_key: str, body: dict[str, Any], param: str
) -> None:
    response = post_embeddings(gateway_url, gateway_api_key, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_unknown_model_raises_not_found(gateway_url: str, gateway_api_key: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client(gateway_url, gateway_api_key).embeddings.create(
            model="no-such-embedder", input="x"
        )
    assert caught.value.code == "model_not_found"


def test_unknown_fields_are_ignored(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess
) -> None:
    body = {"model": EMBED_MODEL, "input": "x", "user": "u-1", "something_new": True}
    assert post_embeddings(gateway_url, gateway_api_key, body).status_code == 200


@pytest.mark.parametrize("named", [None, "gpt-oss-20b", "gpt-oss:20b"])
def test_no_model_or_the_generation_model_means_the_embeddings_model(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess, named: str | None
) -> None:
    body: dict[str, Any] = {"input": "hello"} if named is None else {"model": named, "input": "x"}
    response = post_embeddings(gateway_url, gateway_api_key, body)
    assert response.status_code == 200
    # The reply names the model that embedded (GATEWAY_EMBEDDINGS_MODEL), not gpt-oss.
    assert response.json()["model"] == "nomic-embed-text"
    assert embed_fake.requests(path="/api/embed")[-1]["body"]["model"] == "nomic-embed-text"


def test_gpt_oss_is_refused_before_ollama_naming_the_embedding_model(
    gateway_url: str, gateway_api_key: str, embed_fake: FakeOllamaProcess
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(gateway_url, gateway_api_key).embeddings.create(
            model="gpt-oss:120b", input="x"
        )
    assert caught.value.code == "model_capability_missing"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["param"] == "model"
    assert "cannot create embeddings" in caught.value.message
    assert "'nomic-embed-text' (GATEWAY_EMBEDDINGS_MODEL" in caught.value.message
    assert embed_fake.requests(path="/api/embed") == []


def test_ollamas_501_for_a_model_that_cannot_embed_is_a_400_not_a_retry(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # Ollama 0.32.15 answers 501 "This server does not support embeddings. Start it with
    # `--embeddings`" for any model without an embedding head (server/routes.go EmbedHandler).
    fake_ollama.configure(models=["gpt-oss:20b", "llama3.2"])
    response = post_embeddings(gateway_url, gateway_api_key, {"model": "llama3.2", "input": "x"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("model_capability_missing", "model")
    assert error["message"].startswith("llama3.2 cannot create embeddings")
    assert "nomic-embed-text" in error["message"]
    assert "Retry" not in error["message"]
    assert fake_ollama.requests(path="/api/embed")[-1]["status"] == 501


def test_the_embeddings_model_is_the_setting() -> None:
    settings = Settings(embeddings_model="all-minilm")
    ctx = RequestContext(request_id="r", method="POST", path="/v1/embeddings", client_ip=None)
    service = EmbeddingsService(settings, cast(OllamaClient, None), ctx)
    assert service.embedding_model(None) == ("all-minilm", "all-minilm")
    assert service.embedding_model("gpt-oss-20b") == ("all-minilm", "all-minilm")
    assert service.embedding_model("nomic-embed-text") == ("nomic-embed-text", "nomic-embed-text")
    with pytest.raises(InvalidRequest, match="'all-minilm' \\(GATEWAY_EMBEDDINGS_MODEL"):
        service.embedding_model("gpt-oss:120b")
