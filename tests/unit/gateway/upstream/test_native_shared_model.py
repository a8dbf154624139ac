"""The shared model on the native pass-through (gateway.upstream.shared_model).

Ollama 0.32.15 reloads a loaded model for everyone when a request's runner options differ
(server/sched.go ``needsReload``), and unloads it after a request with ``keep_alive: 0``. A key
that is not an admin key cannot do either: those values are pinned, and the answer says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from gateway.errors import InvalidRequest
from gateway.upstream.shared_model import (
    SharedModel,
    go_duration_seconds,
    keep_alive_seconds,
    operator_keep_alive,
)
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys

ADMIN_KEY = "sk-admin-0123456789abcdef0123456789abcdef"
USER_KEY = "sk-user-0123456789abcdef0123456789abcdef0"
RELOADING = {"num_ctx": 32768, "num_gpu": 0, "num_batch": 64, "use_mmap": False}
HELLO = [{"role": "user", "content": "Say hello"}]
DAY = 24 * 3600


@pytest.fixture
def keyed_gateway(tmp_path: Path, gateway_factory: Callable[..., str]) -> str:
    """A gateway with an admin key and an ordinary key."""
    keys = tmp_path / "keys.json"
    write_keys(keys, key_record(ADMIN_KEY, "ops", admin=True), key_record(USER_KEY, "app"))
    return gateway_factory(keys_file=keys)


def native(url: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` to the gateway's native ``path``."""
    return httpx.post(f"{url}{path}", json=body, headers=bearer(key), timeout=10)


def sent_upstream(fake: FakeOllamaProcess, path: str) -> dict[str, Any]:
    """The body the fake Ollama last received on ``path``."""
    body: dict[str, Any] = fake.requests(path)[-1]["body"]
    return body


def test_an_ordinary_key_cannot_force_a_reload(
    keyed_gateway: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {
        "model": "gpt-oss:20b",
        "messages": HELLO,
        "stream": False,
        "options": {**RELOADING, "temperature": 0.2, "num_predict": 50},
        "shift": False,
        "keep_alive": "10s",
    }
    answer = native(keyed_gateway, USER_KEY, "/api/chat", body)
    assert answer.status_code == 200
    assert answer.json()["done"] is True
    assert answer.headers["x-gateway-pinned"] == (
        "num_ctx, num_batch, num_gpu, use_mmap, shift, keep_alive"
    )
    upstream = sent_upstream(fake_ollama, "/api/chat")
    assert upstream["options"] == {"temperature": 0.2, "num_predict": 50}  # sampling is free
    assert "shift" not in upstream
    assert upstream["keep_alive"] == DAY  # GATEWAY_OLLAMA_KEEP_ALIVE's default, 24h


def test_an_ordinary_key_cannot_unload_the_model_for_everyone(
    keyed_gateway: str, fake_ollama: FakeOllamaProcess
) -> None:
    for spelling in ("keep_alive", "KEEP_ALIVE"):  # Go matches JSON keys case-insensitively
        unload = {"model": "gpt-oss:20b", "messages": [], spelling: 0}
        answer = native(keyed_gateway, USER_KEY, "/api/chat", unload)
        assert answer.json()["done_reason"] == "load"  # Ollama loaded it instead of unloading
        assert answer.headers["x-gateway-pinned"] == "keep_alive"
    running = httpx.get(f"{keyed_gateway}/api/ps", headers=bearer(USER_KEY), timeout=10).json()
    assert [model["name"] for model in running["models"]] == ["gpt-oss:20b"]
    embed = {"model": "nomic-embed-text", "input": "a", "keep_alive": "1s"}
    fake_ollama.configure(models=["gpt-oss:20b", "nomic-embed-text"])
    assert native(keyed_gateway, USER_KEY, "/api/embed", embed).headers["x-gateway-pinned"] == (
        "keep_alive"
    )
    assert sent_upstream(fake_ollama, "/api/embed")["keep_alive"] == DAY


def test_values_that_reload_nothing_pass_unchanged(
    keyed_gateway: str, fake_ollama: FakeOllamaProcess
) -> None:
    for keep_alive in ("48h", -1, DAY):
        body = {
            "model": "gpt-oss:20b",
            "prompt": "hi",
            "stream": False,
            "keep_alive": keep_alive,
            "options": {"temperature": 0.5},
            "shift": True,
        }
        answer = native(keyed_gateway, USER_KEY, "/api/generate", body)
        assert answer.status_code == 200
        assert "x-gateway-pinned" not in answer.headers
        assert sent_upstream(fake_ollama, "/api/generate") == body


def test_an_admin_key_passes_through_unchanged(
    keyed_gateway: str, fake_ollama: FakeOllamaProcess
) -> None:
    body = {"model": "gpt-oss:20b", "messages": HELLO, "options": RELOADING, "keep_alive": 0}
    answer = native(keyed_gateway, ADMIN_KEY, "/api/chat", body)
    assert answer.status_code == 200
    assert "x-gateway-pinned" not in answer.headers
    assert sent_upstream(fake_ollama, "/api/chat") == body


def test_the_operator_keep_alive_is_the_floor(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(ollama_keep_alive="30m")
    for asked, pinned in ((60, True), ("29m", True), ("1h", False)):
        body = {"model": "gpt-oss:20b", "prompt": "", "keep_alive": asked}
        answer = native(url, gateway_api_key, "/api/generate", body)
        assert ("x-gateway-pinned" in answer.headers) is pinned
        assert sent_upstream(fake_ollama, "/api/generate")["keep_alive"] == (
            1800 if pinned else asked
        )


def test_keep_alive_values_are_read_like_ollama_reads_them() -> None:
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("1.5s") == 1.5
    assert go_duration_seconds("0") == 0
    assert go_duration_seconds("300") is None  # time.ParseDuration needs a unit
    assert go_duration_seconds("5 m") is None
    assert keep_alive_seconds(300) == 300
    assert keep_alive_seconds("-1s") == math.inf  # negative: forever
    assert keep_alive_seconds(True) is None
    assert operator_keep_alive("300") == 300  # OLLAMA_KEEP_ALIVE takes bare seconds
    assert operator_keep_alive("-1") == math.inf
    with pytest.raises(ValueError, match="GATEWAY_OLLAMA_KEEP_ALIVE"):
        operator_keep_alive("a day")
    # An unparsable keep_alive is left for Ollama to refuse with its own 400.
    body = b'{"model": "gpt-oss:20b", "keep_alive": "300"}'
    assert SharedModel("24h").protect(body) == (body, [])
    forever = SharedModel("-1").protect(b'{"keep_alive": "48h"}')
    assert forever == (b'{"keep_alive":-1}', ["keep_alive"])
    deep = b'{"keep_alive": 0, "x": ' + b"[" * 300 + b"]" * 300 + b"}"
    with pytest.raises(InvalidRequest, match="254 levels"):
        SharedModel("24h").protect(deep)
