"""Shared fixtures: a fake Ollama process and real gateways wired to it, on loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import TEST_API_KEY, running_gateway


@pytest.fixture(scope="session")
def fake_ollama_process() -> Iterator[FakeOllamaProcess]:
    """One fake Ollama for the whole session (reset before each test that uses ``fake_ollama``)."""
    with FakeOllamaProcess() as process:
        yield process


@pytest.fixture
def fake_ollama(fake_ollama_process: FakeOllamaProcess) -> FakeOllamaProcess:
    """The session's fake Ollama with its recorded requests, knobs and models reset."""
    httpx.post(f"{fake_ollama_process.url}/_fake/reset", timeout=5).raise_for_status()
    return fake_ollama_process


@pytest.fixture
def fake_ollama_url(fake_ollama: FakeOllamaProcess) -> str:
    """Base URL of the (reset) fake Ollama."""
    return fake_ollama.url


def gateway_settings(ollama_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings for a test gateway: wired to ``ollama_url``, quiet logs, test key."""
    return {"ollama_url": ollama_url, "log_level": "WARNING", **overrides}


@pytest.fixture(scope="session")
def session_gateway_url(fake_ollama_process: FakeOllamaProcess) -> Iterator[str]:
    """A gateway with default settings shared by the session."""
    with running_gateway(**gateway_settings(fake_ollama_process.url)) as url:
        yield url


@pytest.fixture
def gateway_url(session_gateway_url: str, fake_ollama: FakeOllamaProcess) -> str:
    """Base URL of a real gateway (uvicorn) in front of the freshly reset fake Ollama."""
    return session_gateway_url


@pytest.fixture
def gateway_api_key() -> str:
    """The API key the test gateways accept."""
    return TEST_API_KEY


@pytest.fixture
def gateway_factory(fake_ollama: FakeOllamaProcess) -> Iterator[Callable[..., str]]:
    """Start extra gateways with custom settings (keyword overrides); all stop after the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> str:
            ollama_url = overrides.pop("ollama_url", fake_ollama.url)
            settings = gateway_settings(ollama_url, **overrides)
            return stack.enter_context(running_gateway(**settings))

        yield start
