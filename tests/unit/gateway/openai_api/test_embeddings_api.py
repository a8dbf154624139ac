"""``POST /v1/embeddings``: the official openai SDK and raw HTTP against the gateway + fake."""

from __future__ import annotations

import math
from typing import Any

import httpx
import openai
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.openai_api.embeddings import encode_base64
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
        ({"input": "x"}, "model"),
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
