"""Native generations report model and tokens: the final-line tap, and the metrics it feeds.

The test gateways run in this process, so their counters are read from the default registry.
"""

from __future__ import annotations

import time

import orjson
import pytest
from prometheus_client import REGISTRY

from fake_ollama.testing import FakeOllamaProcess
from gateway.upstream.passthrough import FinalLineTap
from tests.unit.gateway.openai_api.sdk_clients import ollama_client

FINAL = {"model": "m", "done": True, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4}
LINES = [
    b'{"model":"m","message":{"content":"He said \\"done\\":true"},"done":false}\n',
    b'{"model":"m","message":{"content":"x"},"done":false}\n',
    orjson.dumps(FINAL) + b"\n",
]


def tapped(chunks: list[bytes]) -> dict[str, object] | None:
    """What the tap keeps after seeing ``chunks``."""
    tap = FinalLineTap()
    for chunk in chunks:
        tap.feed(chunk)
    tap.finish()
    return tap.final


def test_final_line_is_found_in_whole_lines() -> None:
    assert tapped(LINES) == FINAL


@pytest.mark.parametrize("size", [1, 7, 40])
def test_final_line_is_found_across_chunk_boundaries(size: int) -> None:
    raw = b"".join(LINES)
    assert tapped([raw[i : i + size] for i in range(0, len(raw), size)]) == FINAL


def test_whole_json_answer_without_newline() -> None:
    assert tapped([orjson.dumps(FINAL)]) == FINAL


def test_escaped_marker_in_text_and_unfinished_streams_give_nothing() -> None:
    assert tapped(LINES[:2]) is None
    assert tapped([b'{"done":true, broken\n']) is None


def token_totals(model: str) -> tuple[float, float]:
    """(prompt, completion) token counters of ``model``, all keys (the test gateways run here)."""
    totals = {"gateway_prompt_tokens": 0.0, "gateway_completion_tokens": 0.0}
    for family in REGISTRY.collect():
        if family.name in totals:
            totals[family.name] += sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total") and s.labels.get("model") == model
            )
    return totals["gateway_prompt_tokens"], totals["gateway_completion_tokens"]


@pytest.mark.parametrize("stream", [False, True])
def test_native_chat_tokens_reach_the_metrics(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, stream: bool
) -> None:
    fake_ollama.configure(thinking_tokens=4, content_tokens=5)
    before = token_totals("gpt-oss:20b")
    client = ollama_client(gateway_url, gateway_api_key)
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        list(client.chat(model="gpt-oss:20b", messages=messages, stream=True))
    else:
        client.chat(model="gpt-oss:20b", messages=messages)
    # The metrics are recorded when the request is over, just after the client has the answer.
    deadline = time.monotonic() + 2
    while True:
        after = token_totals("gpt-oss:20b")
        delta = (after[0] - before[0], after[1] - before[1])
        if any(delta) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert delta == (5, 9)
