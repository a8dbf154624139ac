"""Where the client connects: arguments, then GPTOSS_*, then OPENAI_*, then defaults."""

from __future__ import annotations

import httpx
import pytest

from gptoss import DEFAULT_BASE_URL, DEFAULT_MODEL, Client, ClientConfig

from .gptoss_fakes import ScriptedGateway, json_reply


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GPTOSS_BASE_URL",
        "GPTOSS_API_KEY",
        "GPTOSS_MODEL",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_arguments_or_environment() -> None:
    config = ClientConfig.resolve()
    assert (config.base_url, config.api_key, config.model) == (
        DEFAULT_BASE_URL,
        None,
        DEFAULT_MODEL,
    )
    assert config.max_retries == 2
    assert "Authorization" not in config.headers()


def test_gptoss_variables_win_over_openai_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-var:1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("GPTOSS_BASE_URL", "http://gptoss-var:2")
    monkeypatch.setenv("GPTOSS_API_KEY", "sk-gptoss")
    monkeypatch.setenv("GPTOSS_MODEL", "gpt-oss:120b")
    config = ClientConfig.resolve()
    assert (config.base_url, config.api_key, config.model) == (
        "http://gptoss-var:2",
        "sk-gptoss",
        "gpt-oss:120b",
    )


def test_openai_variables_are_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://box:8080/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    config = ClientConfig.resolve()
    assert (config.base_url, config.api_key) == ("http://box:8080", "sk-openai")


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTOSS_BASE_URL", "http://env:1")
    monkeypatch.setenv("GPTOSS_API_KEY", "sk-env")
    config = ClientConfig.resolve(base_url="http://arg:2", api_key="sk-arg", model="m")
    assert (config.base_url, config.api_key, config.model) == ("http://arg:2", "sk-arg", "m")


def test_blank_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTOSS_API_KEY", "  ")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert ClientConfig.resolve().api_key == "sk-openai"


@pytest.mark.parametrize(
    "given",
    ["http://box:8080", "http://box:8080/", "http://box:8080/v1", "http://box:8080/v1/"],
)
def test_base_url_with_or_without_v1_reaches_the_same_paths(given: str) -> None:
    gateway = ScriptedGateway(json_reply({"object": "list", "data": []}))
    with Client(given, "sk", transport=httpx.MockTransport(gateway)) as client:
        client.models()
    assert str(gateway.requests[0].url) == "http://box:8080/v1/models"


def test_base_url_behind_a_path_prefix_keeps_the_prefix() -> None:
    assert ClientConfig.resolve(base_url="https://lan.example/llm/v1").base_url == (
        "https://lan.example/llm"
    )


def test_base_url_without_scheme_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        ClientConfig.resolve(base_url="box:8080")


def test_key_is_sent_as_bearer_and_never_shown_in_repr() -> None:
    config = ClientConfig.resolve(api_key="sk-secret-value")
    assert config.headers()["Authorization"] == "Bearer sk-secret-value"
    assert "sk-secret-value" not in repr(config)


def test_a_number_timeout_is_the_read_limit_and_connect_stays_short() -> None:
    timeout = ClientConfig.resolve(timeout=30).timeout
    assert (timeout.read, timeout.connect) == (30.0, 5.0)
    assert ClientConfig.resolve(timeout=httpx.Timeout(1.0)).timeout == httpx.Timeout(1.0)


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        ClientConfig.resolve(max_retries=-1)
