"""``GATEWAY_MODEL_ALIASES``: public names that tools hard-code, served by the real model.

Replies answer under the name asked for; Ollama, the access log and metrics see the real model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from fake_ollama.testing import FakeOllamaProcess
from gateway.settings import Settings
from tests.support.waiting import wait_until


def test_aliases_are_alias_model_pairs_or_a_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GATEWAY_MODEL_ALIASES", " gpt-4o = gpt-oss:20b, text-embedding-3-small=nomic-embed-text,"
    )
    settings = Settings()
    assert settings.resolve_model("gpt-4o") == "gpt-oss:20b"
    assert settings.resolve_model("text-embedding-3-small") == "nomic-embed-text"
    assert settings.resolve_model("gpt-oss-20b") == "gpt-oss:20b"  # built in, always

    monkeypatch.setenv("GATEWAY_MODEL_ALIASES", '{"gpt-4o-mini": "gpt-oss:20b"}')
    assert Settings().resolve_model("gpt-4o-mini") == "gpt-oss:20b"


@pytest.mark.parametrize("value", ["gpt-4o", "gpt-4o=", "=gpt-oss:20b", '{"a": 1}', "{oops"])
def test_a_malformed_alias_list_stops_the_gateway_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GATEWAY_MODEL_ALIASES", value)
    with pytest.raises(ValidationError, match="GATEWAY_MODEL_ALIASES must be alias=model pairs"):
        Settings()


def listed(url: str, key: str) -> list[str]:
    """The ids of ``GET /v1/models``."""
    headers = {"Authorization": f"Bearer {key}"}
    models = httpx.get(f"{url}/v1/models", headers=headers, timeout=10).json()["data"]
    return [model["id"] for model in models]


@pytest.mark.parametrize(("shown", "expected"), [(True, True), (False, False)])
def test_aliases_are_listed_unless_hidden(
    gateway_factory: Callable[..., str], gateway_api_key: str, shown: bool, expected: bool
) -> None:
    url = gateway_factory(model_aliases="gpt-4o=gpt-oss:20b", model_aliases_listed=shown)
    ids = listed(url, gateway_api_key)
    assert "gpt-oss:20b" in ids
    assert ("gpt-4o" in ids) is expected


def test_an_alias_answers_under_its_name_and_logs_the_real_model(
    gateway_factory: Callable[..., str],
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = gateway_factory(model_aliases="gpt-4o=gpt-oss:20b", log_level="INFO")
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    for path, body in (
        ("/v1/chat/completions", chat),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
    ):
        reply = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=10).json()
        assert reply["model"] == "gpt-4o"
        assert fake_ollama.requests(path="/api/chat")[-1]["body"]["model"] == "gpt-oss:20b"

    lines: list[dict[str, Any]] = []

    def access_lines() -> list[dict[str, Any]]:
        err = capfd.readouterr().err
        lines.extend(json.loads(line) for line in err.splitlines() if '"gateway.access"' in line)
        return [line for line in lines if line.get("route", "").startswith("/v1/")]

    def models_logged() -> list[str]:
        found = access_lines()
        return [line["model"] for line in found] if len(found) == 2 else []

    logged = wait_until(models_logged, "the access log lines of both requests")
    assert logged == ["gpt-oss:20b", "gpt-oss:20b"]
