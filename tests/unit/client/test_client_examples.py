"""`client/examples.sh`: every curl example succeeds against the gateway + fake Ollama."""

from __future__ import annotations

import os
import subprocess

from fake_ollama.testing import FakeOllamaProcess
from tests.support.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "client" / "examples.sh"


def run_examples(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(EXAMPLES), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_every_example_runs_and_exits_zero(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # The operator pulls an embedding model for /v1/embeddings (the default stack has none).
    fake_ollama.call("POST", "/api/pull", {"model": "nomic-embed-text", "stream": False})
    env = {**os.environ, "BASE_URL": f"{gateway_url}/v1", "API_KEY": gateway_api_key}
    names = run_examples("--list", env=env).stdout.split()
    assert names == [
        "health",
        "models",
        "chat",
        "stream",
        "reasoning",
        "tools",
        "structured",
        "completions",
        "embeddings",
        "responses",
        "responses_stream",
        "ollama_chat",
    ]
    done = run_examples(env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    for name in names:
        assert f"### {name} " in done.stdout
    assert "data: [DONE]" in done.stdout
    assert "event: response.completed" in done.stdout
    assert '"finish_reason": "tool_calls"' in done.stdout.replace('":"', '": "')
    assert f"{len(names)} example(s) ran, every request succeeded" in done.stdout


def test_an_http_error_stops_the_script_with_the_error_shown(
    gateway_url: str, fake_ollama: FakeOllamaProcess
) -> None:
    env = {**os.environ, "BASE_URL": gateway_url, "API_KEY": "sk-wrong-0123456789"}
    done = run_examples("chat", env=env)
    assert done.returncode != 0
    assert "invalid_api_key" in done.stdout + done.stderr
    assert "example(s) ran" not in done.stdout


def test_missing_settings_and_unknown_names_are_refused(gateway_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BASE_URL", "API_KEY")}
    assert "set BASE_URL" in run_examples(env=env).stderr
    unknown = run_examples("nope", env={**env, "BASE_URL": gateway_url, "API_KEY": "k"})
    assert unknown.returncode == 2
    assert "unknown example 'nope'" in unknown.stderr
