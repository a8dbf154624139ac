"""What a key may do, and the failed-auth limiter per client IP (real IP via X-Forwarded-For)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys

LIMITED = "sk-limited-0123456789abcdef0123456789ab"
ADMIN = "sk-admin-0123456789abcdef0123456789abcd"
PLAIN = "sk-plain-0123456789abcdef0123456789abcd"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def url(gateway_factory: Callable[..., str], tmp_path: Path) -> str:
    """A gateway with a model-limited key, an admin key and a plain key; 3 failures per IP."""
    path = tmp_path / "keys.json"
    write_keys(
        path,
        key_record(LIMITED, "limited", models=["gpt-oss-20b"]),
        key_record(ADMIN, "boss", admin=True),
        key_record(PLAIN, "plain"),
    )
    return gateway_factory(api_keys="", keys_file=path, auth_failure_limit=3)


def from_ip(ip: str, key: str | None) -> dict[str, str]:
    """Headers of a request relayed by the (trusted, loopback) proxy for client ``ip``."""
    headers = {"X-Forwarded-For": ip}
    return bearer(key, **headers) if key else headers


def test_wrong_keys_from_one_ip_are_cut_off_after_the_limit(url: str) -> None:
    statuses = [
        httpx.get(f"{url}/v1/models", headers=from_ip("203.0.113.7", f"sk-guess-{i}")).status_code
        for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    blocked = httpx.get(f"{url}/v1/models", headers=from_ip("203.0.113.7", PLAIN))
    assert blocked.status_code == 429, "even a correct key: a guesser must not learn it was right"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert "failed API key attempts" in blocked.json()["error"]["message"]
    elsewhere = httpx.get(f"{url}/v1/models", headers=from_ip("203.0.113.8", PLAIN))
    assert elsewhere.status_code == 200, "other addresses are not affected"


def test_missing_keys_do_not_count_as_failures(url: str) -> None:
    for _ in range(6):
        assert (
            httpx.get(f"{url}/v1/models", headers=from_ip("198.51.100.1", None)).status_code == 401
        )
    ok = httpx.get(f"{url}/v1/models", headers=from_ip("198.51.100.1", PLAIN))
    assert ok.status_code == 200


def test_model_outside_the_keys_list_is_403(url: str, fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=["gpt-oss:20b", "qwen3:latest"])
    denied = httpx.post(
        f"{url}/v1/chat/completions",
        headers=bearer(LIMITED),
        json={"model": "qwen3", "messages": HI},
    )
    assert denied.status_code == 403, denied.text
    error = denied.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_allowed", "model")
    assert "gpt-oss:20b" in error["message"]
    for model in ("gpt-oss-20b", "gpt-oss:20b"):  # alias and Ollama name are the same model
        allowed = httpx.post(
            f"{url}/v1/chat/completions",
            headers=bearer(LIMITED),
            json={"model": model, "messages": HI},
        )
        assert allowed.status_code == 200, allowed.text
    native = httpx.post(
        f"{url}/api/chat", headers=bearer(LIMITED), json={"model": "qwen3", "messages": HI}
    )
    assert native.status_code == 403
    listed = httpx.get(f"{url}/v1/models", headers=bearer(LIMITED)).json()["data"]
    assert "qwen3:latest" not in {m["id"] for m in listed}


def test_model_management_needs_an_admin_key(url: str, fake_ollama: FakeOllamaProcess) -> None:
    body = {"model": "gpt-oss:120b", "stream": False}
    refused = httpx.post(f"{url}/api/pull", headers=bearer(PLAIN), json=body, timeout=30)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_key_required"
    pulled = httpx.post(f"{url}/api/pull", headers=bearer(ADMIN), json=body, timeout=30)
    assert pulled.status_code == 200, pulled.text
    assert httpx.request(
        "DELETE", f"{url}/api/delete", headers=bearer(ADMIN), json={"model": "gpt-oss:120b"}
    ).is_success
