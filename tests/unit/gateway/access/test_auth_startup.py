"""Start-up rules: no keys no start (unless auth is disabled, loudly), and the start-up warnings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.access.guard import ConfigurationError, build_guard
from gateway.app import create_app
from gateway.settings import Settings
from tests.support.servers import free_port


def settings(**overrides: object) -> Settings:
    """Settings without any key source unless given."""
    return Settings(**{"api_keys": "", "keys_file": None, **overrides})  # type: ignore[arg-type]


def test_no_keys_configured_refuses_to_start_and_says_what_to_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_guard(settings())
    for hint in ("GATEWAY_API_KEYS", "GATEWAY_KEYS_FILE", "gateway keys create", "AUTH_DISABLED"):
        assert hint in str(caught.value)
    with pytest.raises(ConfigurationError):
        create_app(settings())


def test_gateway_serve_without_keys_exits_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(free_port())]
    result = subprocess.run(
        [*command, "--workers", "1"], env=env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert b"No API keys configured" in result.stdout + result.stderr


def test_auth_disabled_is_logged_loudly_every_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.guard"):
        build_guard(settings(auth_disabled=True))
        build_guard(settings(auth_disabled=True))
    loud = [r for r in caplog.records if "API KEYS ARE NOT CHECKED" in r.getMessage()]
    assert len(loud) == 2
    assert all(r.levelno == logging.ERROR for r in loud)


def test_auth_disabled_serves_without_a_key_as_anonymous(
    gateway_factory: Callable[..., str],
) -> None:
    url = gateway_factory(api_keys="", auth_disabled=True, default_rpm=2)
    first = httpx.get(f"{url}/v1/models")
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2", "default limits still apply"
    assert httpx.get(f"{url}/v1/models").status_code == 200
    assert httpx.get(f"{url}/v1/models").status_code == 429


def test_memory_storage_warns_that_it_is_per_worker(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.guard"):
        build_guard(settings(api_keys="sk-x"))
    assert "each worker process on its own" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway.guard"):
        build_guard(settings(api_keys="sk-x", ratelimit_storage="redis://127.0.0.1:1/0"))
    assert "each worker process" not in caplog.text


def test_empty_key_file_starts_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.guard"):
        guard = build_guard(settings(keys_file=tmp_path / "keys.json"))
    assert guard.keys is not None
    assert len(guard.keys) == 0
    assert "every request gets 401" in caplog.text


def test_invalid_key_file_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": 1}')
    with pytest.raises(ConfigurationError, match="invalid at keys"):
        build_guard(settings(keys_file=path))


def test_unknown_storage_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="memory:// or redis://"):
        settings(api_keys="sk-x", ratelimit_storage="memcached://localhost:11211")
