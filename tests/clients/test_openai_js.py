"""The official ``openai`` JS SDK (pinned in tests/clients/node) streams chat and responses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from tests.clients.conftest import NODE_DIR, node_bin


def test_js_sdk_streams_a_chat_completion_and_a_response(
    gateway_url: str, gateway_api_key: str
) -> None:
    node_bin("openai")  # the SDK is installed (make install runs npm ci)
    node = shutil.which("node")
    assert node, "node is not installed (Debian: apt-get install nodejs npm)"
    env = {**os.environ, "GATEWAY_URL": gateway_url, "GATEWAY_API_KEY": gateway_api_key}
    done = subprocess.run(
        [node, "openai_sdk.mjs"],
        cwd=NODE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)

    chat = got["chat"]
    assert chat["content"].startswith("Fake answer to: Say hello")
    assert chat["finish"] == "stop"
    assert chat["usage"]["completion_tokens"] > 0

    responses = got["responses"]
    assert responses["text"] == chat["content"]
    assert responses["events"][0] == "response.created"
    assert responses["events"][-1] == "response.completed"
