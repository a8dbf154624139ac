"""The installed `gptoss` command against a real gateway + fake Ollama: `ask`, `models`,
`health`, and the `chat` REPL driven in a real pseudo-terminal (Ctrl-C included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import free_port
from tests.support.waiting import wait_until

GPTOSS = str(Path(sys.executable).with_name("gptoss"))
TIMEOUT = 30


@pytest.fixture
def cli_env(gateway_url: str, gateway_api_key: str) -> dict[str, str]:
    """The environment of a user pointed at the test gateway (nothing inherited from ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPTOSS_", "OPENAI_"))}
    env.update(GPTOSS_BASE_URL=gateway_url, GPTOSS_API_KEY=gateway_api_key, NO_COLOR="1")
    return env


Gptoss = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def gptoss(cli_env: dict[str, str]) -> Gptoss:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GPTOSS, *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=TIMEOUT,
            check=False,
        )

    return run


def test_ask_streams_the_answer_and_reads_piped_stdin(
    gptoss: Gptoss, fake_ollama: FakeOllamaProcess
) -> None:
    done = gptoss("ask", "--effort", "low", "Summarize:", stdin="The quick brown fox.\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Fake answer to: Summarize:")
    assert "thought for" in done.stderr
    sent = fake_ollama.requests(path="/api/chat")[-1]["body"]
    assert sent["messages"][-1]["content"] == "Summarize:\n\nThe quick brown fox."
    assert sent["think"] == "low"


def test_ask_json_is_machine_readable(gptoss: Gptoss) -> None:
    done = gptoss("ask", "--json", "What is 2+2?")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["content"].startswith("Fake answer to: What is 2+2?")
    assert result["reasoning"]
    assert result["finish_reason"] == "stop"
    assert result["usage"]["completion_tokens"] > 0
    assert result["request_id"]


def test_ask_errors_exit_non_zero_with_advice_and_no_traceback(gptoss: Gptoss) -> None:
    done = gptoss("--model", "no-such-model", "ask", "hi")
    assert done.returncode == 1
    assert "not found on the gateway" in done.stderr
    assert "gptoss models" in done.stderr
    assert "Traceback" not in done.stderr
    wrong_key = gptoss("--api-key", "sk-wrong-0123456789", "ask", "--json", "hi")
    assert wrong_key.returncode == 1
    assert json.loads(wrong_key.stdout)["error"]["status"] == 401
    assert "rejected the API key" in wrong_key.stderr


def test_unreachable_gateway_is_explained(gptoss: Gptoss) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = gptoss("--base-url", url, "ask", "hi")
    assert done.returncode == 1
    assert f"cannot reach the gateway at {url}" in " ".join(done.stderr.split())


def test_models_lists_the_default_model(gptoss: Gptoss) -> None:
    done = gptoss("models", "--json")
    assert done.returncode == 0, done.stderr
    assert "gpt-oss:20b" in [model["id"] for model in json.loads(done.stdout)]


def test_health_is_green_end_to_end(gptoss: Gptoss) -> None:
    done = gptoss("health")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("gateway", "api key", "ready", "ollama", "model", "your model", "generation"):
        assert any(line.startswith(f"✓ {name} ") for line in lines), (name, done.stdout)
    assert not any(line.startswith("✗") for line in lines)
    # Straight to the gateway (no nginx in front): the only line that is skipped says so.
    assert [line for line in lines if line.startswith("-")] == [
        next(line for line in lines if line.startswith("- nginx ") and "no nginx in front" in line)
    ]


def test_health_fails_when_the_model_is_missing(
    gptoss: Gptoss, fake_ollama: FakeOllamaProcess
) -> None:
    fake_ollama.call("DELETE", "/api/delete", {"model": "gpt-oss:20b"})
    done = gptoss("health")
    assert done.returncode == 1
    assert "✗" in done.stdout
    assert "gpt-oss:20b" in done.stdout


def _ctrl_c_as_in_a_terminal() -> None:
    """In the CLI's process: SIGINT at its default, as a shell in a terminal starts programs.

    A test run started in the background (``make test-stress &``, nohup, some CI launchers)
    inherits SIGINT *ignored*; Python then keeps ignoring it and Ctrl-C would do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def chat_session(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., pexpect.spawn]]:
    """Start `gptoss ... chat` in a pseudo-terminal; always killed at the end."""
    children: list[pexpect.spawn] = []

    def start(*args: str) -> pexpect.spawn:
        env = {**cli_env, "TERM": "xterm-256color"}
        env.pop("NO_COLOR")
        child = pexpect.spawn(
            GPTOSS,
            [*args],
            env=env,
            cwd=str(tmp_path),
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(40, 120),
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
        children.append(child)
        child.expect("you> ")
        return child

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def test_chat_repl_keeps_history_and_obeys_commands(
    chat_session: Callable[..., pexpect.spawn], fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    child = chat_session("chat", "--system", "Be brief.")
    child.sendline("My name is Ada.")
    child.expect("Fake answer to: My name is Ada.")
    child.expect("thought for")
    child.expect("you> ")
    child.sendline("/effort high")
    child.expect("reasoning effort: high")
    child.expect("you> ")
    child.sendline("What is my name?")
    child.expect("Fake answer to: What is my name?")
    child.expect("you> ")
    sent = fake_ollama.requests(path="/api/chat")[-1]["body"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["think"] == "high"
    child.sendline("/save talk.json")
    child.expect("saved 5 messages")
    child.expect("you> ")
    saved = json.loads((tmp_path / "talk.json").read_text(encoding="utf-8"))
    assert saved["messages"][1] == {"role": "user", "content": "My name is Ada."}
    child.sendline("/reset")
    child.expect("conversation cleared")
    child.expect("you> ")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_stops_the_answer_and_the_generation_but_not_the_chat(
    chat_session: Callable[..., pexpect.spawn], fake_ollama: FakeOllamaProcess
) -> None:
    child = chat_session("--model", "fault-slow", "chat", "--show-reasoning")
    child.sendline("Tell me a long story")
    child.expect("lorem")  # the answer is streaming
    child.sendintr()
    child.expect("stopped; this exchange is not kept")
    child.expect("you> ")
    cancelled = wait_until(fake_ollama.cancelled, "the generation cancelled at Ollama")
    assert [entry["path"] for entry in cancelled] == ["/api/chat"]
    child.sendline("/help")
    child.expect("/effort low\\|medium\\|high")
    child.expect("you> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
