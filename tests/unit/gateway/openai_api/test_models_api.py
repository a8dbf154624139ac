"""``GET /v1/models`` and ``GET /v1/models/{id}``: the official openai SDK against the gateway."""

from __future__ import annotations

import httpx
import openai
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.openai_api.catalog import owner_of, unix_time
from tests.support.servers import free_port, running_gateway
from tests.unit.gateway.openai_api.sdk_clients import openai_client


def test_list_has_every_model_and_the_alias(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    tags = httpx.get(f"{fake_ollama.url}/api/tags", timeout=5).json()["models"]
    page = openai_client(gateway_url, gateway_api_key).models.list()
    by_id = {model.id: model for model in page.data}
    assert list(by_id) == ["gpt-oss:20b", "gpt-oss-20b"]
    for model in by_id.values():
        assert model.object == "model"
        assert model.owned_by == "library"
        assert model.created == unix_time(tags[0]["modified_at"]) > 1_700_000_000


def test_retrieve_by_name_and_by_alias(gateway_url: str, gateway_api_key: str) -> None:
    client = openai_client(gateway_url, gateway_api_key)
    assert client.models.retrieve("gpt-oss:20b").id == "gpt-oss:20b"
    alias = client.models.retrieve("gpt-oss-20b")
    assert alias.id == "gpt-oss-20b"
    assert alias.owned_by == "library"


def test_ids_with_colon_and_slash_work_in_the_path(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(models=["gpt-oss:20b", "someone/custom-model:7b", "llama3.2:latest"])
    client = openai_client(gateway_url, gateway_api_key)
    model = client.models.retrieve("someone/custom-model:7b")
    assert (model.id, model.owned_by) == ("someone/custom-model:7b", "someone")
    assert client.models.retrieve("llama3.2").id == "llama3.2"  # ':latest' is implied
    assert "someone/custom-model:7b" in {m.id for m in client.models.list().data}


def test_unknown_model_raises_not_found(gateway_url: str, gateway_api_key: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client(gateway_url, gateway_api_key).models.retrieve("no-such/model:1b")
    assert caught.value.code == "model_not_found"
    assert "GET /v1/models" in caught.value.message


def test_empty_store_lists_an_empty_array_not_null(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(models=[])
    response = httpx.get(
        f"{gateway_url}/v1/models",
        headers={"Authorization": f"Bearer {gateway_api_key}"},
        timeout=5,
    )
    assert response.json() == {"object": "list", "data": []}


def test_configured_model_not_yet_pulled_says_so(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.configure(models=["llama3.2:latest"])
    client = openai_client(gateway_url, gateway_api_key)
    assert [m.id for m in client.models.list().data] == ["llama3.2:latest"]  # no dangling alias
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-oss-20b")
    assert "not downloaded yet" in caught.value.message


def test_unreachable_ollama_is_503_with_retry_after(gateway_api_key: str) -> None:
    closed_port = f"http://127.0.0.1:{free_port()}"
    with (
        running_gateway(ollama_url=closed_port, retry_after_seconds=7, log_level="WARNING") as url,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        openai_client(url, gateway_api_key).models.list()
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "7"
    assert "not reachable" in caught.value.message


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("gpt-oss:20b", "library"),
        ("llama3", "library"),
        ("someone/model:tag", "someone"),
        ("registry.example.com/team/model:1", "team"),
        ("host:5000/team/model", "team"),
    ],
)
def test_owner_is_the_namespace(name: str, owner: str) -> None:
    assert owner_of(name) == owner


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        ("2025-08-05T10:11:12.123456789Z", 1754388672),
        ("2025-08-05T03:11:12.5-07:00", 1754388672),
        ("garbage", 0),
        (None, 0),
    ],
)
def test_created_is_the_unix_time_of_modified_at(stamp: object, seconds: int) -> None:
    assert unix_time(stamp) == seconds
