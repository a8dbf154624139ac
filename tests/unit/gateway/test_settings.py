"""Settings come from GATEWAY_* variables; every one of them is documented in the README."""

from __future__ import annotations

import re

import pytest

from gateway.settings import Settings
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"


def test_expected_models_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_EXPECTED_MODELS", "gpt-oss:120b, nomic-embed-text ,")
    settings = Settings()
    assert settings.expected_models == ["gpt-oss:120b", "nomic-embed-text"]
    # Ollama's naming rule: no tag means ":latest"; the default model always counts.
    assert settings.is_expected("nomic-embed-text:latest")
    assert settings.is_expected("gpt-oss:20b")
    assert not settings.is_expected("llama3:8b")


def test_aliases_resolve_to_ollama_names() -> None:
    settings = Settings()
    assert settings.resolve_model("gpt-oss-20b") == "gpt-oss:20b"
    assert settings.resolve_model("gpt-oss:20b") == "gpt-oss:20b"
    assert settings.resolve_model(None) == "gpt-oss:20b"
    assert settings.resolve_model("other:7b") == "other:7b"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(GATEWAY_[A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    expected = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "add these settings to the README's table"
    assert documented - expected == set(), "the README documents settings that do not exist"
