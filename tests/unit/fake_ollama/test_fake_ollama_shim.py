"""The ``ollama`` CLI shim (exit codes, output) and the fake's process behaviour (env, SIGTERM)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess, free_port
from tests.support.waiting import PATIENCE, wait_until

SHIM = [sys.executable, "-m", "fake_ollama.shim"]


def ollama(fake_url_or_port: str | int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the shim against ``OLLAMA_HOST`` (a fake's URL, or a port nothing listens on)."""
    host = (
        f"127.0.0.1:{fake_url_or_port}"
        if isinstance(fake_url_or_port, int)
        else fake_url_or_port.removeprefix("http://")
    )
    env = {**os.environ, "OLLAMA_HOST": host}
    return subprocess.run(
        [*SHIM, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_list_prints_the_models_table(fake_ollama: FakeOllamaProcess) -> None:
    result = ollama(fake_ollama.url, "list")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert row.split()[:4] == ["gpt-oss:20b", row.split()[1], "13", "GB"]


def test_list_fails_with_an_error_when_the_server_is_down() -> None:
    result = ollama(free_port(), "list")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: could not connect to ollama server")


def test_show_exit_codes(fake_ollama: FakeOllamaProcess) -> None:
    present = ollama(fake_ollama.url, "show", "gpt-oss:20b")
    assert present.returncode == 0
    assert "gptoss" in present.stdout
    assert "thinking" in present.stdout
    absent = ollama(fake_ollama.url, "show", "gpt-oss:99b")
    assert absent.returncode == 1
    assert absent.stderr.strip() == "Error: model 'gpt-oss:99b' not found"


def test_pull_succeeds_after_a_failed_attempt(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=[], pull_seconds=0.0, pull_failures=1)
    failed = ollama(fake_ollama.url, "pull", "gpt-oss:20b")
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == ["pulling manifest"]
    assert failed.stderr.startswith("Error: pull model manifest:")
    pulled = ollama(fake_ollama.url, "pull", "gpt-oss:20b")
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[0] == "pulling manifest"
    assert lines[-1] == "success"
    assert any(line.endswith("100% 13 GB") for line in lines)
    assert ollama(fake_ollama.url, "show", "gpt-oss:20b").returncode == 0


def test_ps_version_and_unknown_commands(fake_ollama: FakeOllamaProcess) -> None:
    httpx.post(
        fake_ollama.url + "/api/generate", json={"model": "gpt-oss:20b"}, timeout=5
    ).raise_for_status()
    ps = ollama(fake_ollama.url, "ps")
    assert ps.returncode == 0
    assert "gpt-oss:20b" in ps.stdout
    assert "100% GPU" in ps.stdout
    version = ollama(fake_ollama.url, "--version")
    assert (version.returncode, version.stdout) == (0, "ollama version is 0.32.15\n")
    down = ollama(free_port(), "--version")
    assert down.returncode == 0
    assert "could not connect" in down.stdout
    unknown = ollama(fake_ollama.url, "frobnicate")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == 'Error: unknown command "frobnicate" for "ollama"'


def test_run_prints_the_answer_and_rm_deletes(fake_ollama: FakeOllamaProcess) -> None:
    ran = ollama(fake_ollama.url, "run", "gpt-oss:20b", "hi")
    assert ran.returncode == 0
    assert ran.stdout.startswith("Fake answer to: hi")
    removed = ollama(fake_ollama.url, "rm", "gpt-oss:20b")
    assert (removed.returncode, removed.stdout) == (0, "deleted 'gpt-oss:20b'\n")
    assert ollama(fake_ollama.url, "list").stdout.splitlines()[1:] == []
    again = ollama(fake_ollama.url, "rm", "gpt-oss:20b")
    assert again.returncode == 1


def test_the_console_script_is_installed() -> None:
    script = shutil.which("ollama-shim", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run(
        [script, "help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0
    assert "serve" in result.stdout


def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"{url} did not come up")


def test_ollama_serve_uses_ollama_host_and_fake_env_and_exits_0_on_sigterm() -> None:
    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "FAKE_OLLAMA_MODELS": "",
        "FAKE_OLLAMA_VERSION": "9.9.9",
        "FAKE_OLLAMA_QUIET": "1",
    }
    process = subprocess.Popen([*SHIM, "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, process)
        assert httpx.get(url + "/api/version", timeout=5).json() == {"version": "9.9.9"}
        assert httpx.get(url + "/api/tags", timeout=5).json() == {"models": []}
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_sigterm_with_a_request_in_flight_exits_promptly() -> None:
    fake = FakeOllamaProcess(env={"FAKE_OLLAMA_SHUTDOWN_GRACE": "1"}).start()
    outcome: list[object] = []

    def hang() -> None:
        body = {"model": "fault-hang", "messages": [{"role": "user", "content": "hi"}]}
        try:
            answer = httpx.post(fake.url + "/api/chat", json=body, timeout=PATIENCE * 2)
            outcome.append(answer.status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    hung = threading.Thread(target=hang)
    try:
        hung.start()
        wait_until(lambda: fake.requests("/api/chat"), "the hanging request received")
        # The hang would last hang_seconds (600 s): exiting by itself (0, not SIGKILL) within
        # PATIENCE means the 1 s grace was applied to it.
        assert fake.stop(timeout=PATIENCE) == 0
        hung.join(PATIENCE)
        assert outcome, "the in-flight request must end when the server stops"
    finally:
        fake.stop()
        hung.join(PATIENCE)
