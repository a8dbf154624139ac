"""Ollama's "does not support <capability>" refusals become 400s naming the OpenAI field."""

from __future__ import annotations

import pytest

from gateway.upstream.capabilities import capability_error, missing_capability


@pytest.mark.parametrize(
    ("message", "capability"),
    [
        # server/routes.go scheduleRunner + server/images.go CheckCapabilities (v0.32.15)
        ("registry.ollama.ai/library/gpt-oss:20b does not support insert", "insert"),
        # several missing capabilities are joined with newlines (errors.Join): the first counts
        ("registry.ollama.ai/library/m:latest does not support insert\ntools", "insert"),
        ('"nomic-embed-text" does not support chat', "chat"),
        ("raw mode does not support template, system, or context", None),
        ("model 'x' not found", None),
    ],
)
def test_the_missing_capability_is_read_from_ollamas_message(
    message: str, capability: str | None
) -> None:
    assert missing_capability(message) == capability


def test_insert_names_suffix_and_unknown_capabilities_name_no_field() -> None:
    insert = capability_error("insert", "gpt-oss:20b").body()["error"]
    assert insert["param"] == "suffix"
    assert insert["code"] == "model_capability_missing"
    assert "insert (fill-in-the-middle)" in insert["message"]
    assert "gpt-oss:20b does not have" in insert["message"]
    other = capability_error("audio", None).body()["error"]
    assert other["param"] is None
    assert "'audio'" in other["message"]
