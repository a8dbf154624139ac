"""API keys through a real gateway: 401s, both headers, open routes, expiry and revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.waiting import wait_until
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys

GOOD = "sk-alice-0123456789abcdef0123456789abcdef"
PROTECTED = [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/api/tags")]


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    """A key file holding alice's key."""
    path = tmp_path / "keys.json"
    write_keys(path, key_record(GOOD, "alice"))
    return path


@pytest.fixture
def url(gateway_factory: Callable[..., str], keys_file: Path) -> str:
    """A gateway reading ``keys_file`` (no rate limits)."""
    return gateway_factory(api_keys="", keys_file=keys_file)


def assert_401(response: httpx.Response, needle: str) -> None:
    """A 401 in OpenAI's envelope with the bearer challenge, mentioning ``needle``."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_key_is_401_saying_how_to_send_one(url: str, method: str, path: str) -> None:
    response = httpx.request(method, url + path, json={} if method == "POST" else None)
    assert_401(response, "Authorization: Bearer")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_wrong_key_is_401(url: str, method: str, path: str) -> None:
    response = httpx.request(method, url + path, headers=bearer("sk-wrong"))
    assert_401(response, "Incorrect API key")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {GOOD}"},
        {"authorization": f"bearer {GOOD}"},
        {"X-API-Key": GOOD},
        {"Authorization": "Basic Zm9vOmJhcg==", "X-API-Key": GOOD},
    ],
)
def test_key_is_accepted_as_bearer_or_x_api_key(url: str, headers: dict[str, str]) -> None:
    assert httpx.get(f"{url}/v1/models", headers=headers).status_code == 200


def test_non_bearer_authorization_alone_is_missing_key(url: str) -> None:
    response = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Basic {GOOD}"})
    assert_401(response, "Missing API key")


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics"])
def test_health_and_metrics_need_no_key(url: str, path: str) -> None:
    assert httpx.get(url + path).status_code not in (401, 429)


def test_openai_sdk_gets_authentication_error(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"
    assert openai.OpenAI(base_url=f"{url}/v1", api_key=GOOD).models.list().data


def test_expired_and_revoked_keys_are_401_with_the_reason(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    past = datetime.now(UTC) - timedelta(seconds=1)
    future = datetime.now(UTC) + timedelta(days=1)
    write_keys(
        path,
        key_record("sk-expired-key-000000000000", "old", expires=past),
        key_record("sk-revoked-key-000000000000", "gone", enabled=False),
        key_record("sk-future-key-0000000000000", "later", expires=future),
    )
    url = gateway_factory(api_keys="", keys_file=path)
    assert_401(
        httpx.get(f"{url}/v1/models", headers=bearer("sk-expired-key-000000000000")), "expired"
    )
    assert_401(
        httpx.get(f"{url}/v1/models", headers=bearer("sk-revoked-key-000000000000")), "revoked"
    )
    assert httpx.get(f"{url}/v1/models", headers=bearer("sk-future-key-0000000000000")).is_success


def test_env_keys_and_file_keys_work_together(
    gateway_factory: Callable[..., str], keys_file: Path
) -> None:
    url = gateway_factory(
        api_keys="sk-env-one-000000000000, sk-env-two-000000000000", keys_file=keys_file
    )
    for key in (GOOD, "sk-env-one-000000000000", "sk-env-two-000000000000"):
        assert httpx.get(f"{url}/v1/models", headers=bearer(key)).status_code == 200


def test_edits_of_the_key_file_apply_without_restart(url: str, keys_file: Path) -> None:
    newcomer = "sk-bob-0123456789abcdef0123456789abcdef"
    assert httpx.get(f"{url}/v1/models", headers=bearer(newcomer)).status_code == 401
    write_keys(keys_file, key_record(newcomer, "bob"))

    def swapped() -> bool:  # the reload interval is 1 s
        statuses = [
            httpx.get(f"{url}/v1/models", headers=bearer(key)).status_code
            for key in (newcomer, GOOD)
        ]
        return statuses == [200, 401]

    wait_until(swapped, "the edited key file in force (newcomer in, GOOD out)")
