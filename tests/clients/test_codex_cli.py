"""The Codex CLI (pinned in tests/clients/node/package.json) runs a turn against the gateway.

``codex exec`` with a custom model provider (``wire_api = "responses"``, ``base_url`` the
gateway's ``/v1``, the key from an environment variable): the fake model calls ``exec_command``,
Codex takes the call and sends its ``function_call_output`` back, and the final answer comes
back. (The fake fills every property of a tool's schema, numbers as 1.5, which Codex refuses
as arguments of exec_command: its output then reports that, and the round trip is the same.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from fake_ollama.testing import FakeOllamaProcess
from tests.clients.conftest import node_bin

CODEX_CONFIG = """\
model = "gpt-oss-20b"
model_provider = "gateway"

[model_providers.gateway]
name = "gpt-oss gateway"
base_url = "{base_url}/v1"
env_key = "GPTOSS_API_KEY"
wire_api = "responses"

[analytics]
enabled = false
"""


def codex_exec(home: Path, workdir: Path, prompt: str, key: str) -> list[dict[str, Any]]:
    """Run ``codex exec --json`` and return its events (fails showing Codex's output)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "GPTOSS_API_KEY": key,
    }
    done = subprocess.run(
        [str(node_bin("codex")), "exec", "--json", "--skip-git-repo-check", prompt],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"codex exec failed:\n{done.stdout}\n{done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def codex_turn(url: str, key: str, tmp_path: Path, prompt: str) -> list[dict[str, Any]]:
    """One ``codex exec`` turn with a fresh Codex home configured for the gateway at ``url``."""
    home, workdir = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=url))
    return codex_exec(home, workdir, prompt, key)


def test_codex_exec_completes_a_turn_with_a_tool_round_trip(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    prompt = "Use exec_command to list the files"
    events = codex_turn(gateway_url, gateway_api_key, tmp_path, prompt)

    assert events[-1]["type"] == "turn.completed", events
    items = [e["item"] for e in events if e.get("type") == "item.completed"]
    answer = next(item for item in items if item.get("type") == "agent_message")
    assert answer["text"].startswith("Fake answer using exec_command result:")

    first, second = (entry["body"] for entry in fake_ollama.requests(path="/api/chat"))
    offered = [tool["function"]["name"] for tool in first["tools"]]
    assert {"exec_command", "multi_agent_v1__spawn_agent"} <= set(offered)
    call = second["messages"][-2]["tool_calls"][0]
    assert call["function"]["name"] == "exec_command"
    result = second["messages"][-1]
    assert result["role"] == "tool"
    assert (result["tool_call_id"], result["tool_name"]) == (call["id"], "exec_command")
    # Reasoning went to Codex as encrypted_content and came back as the call's thinking.
    assert second["messages"][-2]["thinking"].startswith("Reasoning (medium)")


def test_codex_runs_a_tool_of_a_namespace_called_by_its_flat_name(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, tmp_path: Path
) -> None:
    prompt = "Use multi_agent_v1__close_agent"
    events = codex_turn(gateway_url, gateway_api_key, tmp_path, prompt)

    assert events[-1]["type"] == "turn.completed", events
    _, second = (entry["body"] for entry in fake_ollama.requests(path="/api/chat"))
    result = second["messages"][-1]
    assert result["tool_name"] == "multi_agent_v1__close_agent"
    # close_agent itself answered: Codex found the tool under its namespace.
    assert result["content"].startswith("invalid agent id fake-target")
