"""Native generations report model and tokens: the final-line tap, and the metrics it feeds.

The test gateways run in this process, so their counters are read from the default registry.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from fake_ollama.testing import FakeOllamaProcess
from gateway.upstream.passthrough import FinalLineTap
from tests.support.waiting import wait_until
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

    def delta() -> tuple[float, float] | None:
        after = token_totals("gpt-oss:20b")
        counted = (after[0] - before[0], after[1] - before[1])
        return counted if any(counted) else None

    assert wait_until(delta, "the tokens in the metrics") == (5, 9)


def test_a_stream_cut_short_counts_its_complete_lines_less_ollamas_error_lines() -> None:
    tool_line = b'{"message":{"tool_calls":[{"function":{"arguments":{"error":"x"}}}]}}\n'
    tap = FinalLineTap()
    for chunk in (LINES[0], LINES[1][:9], LINES[1][9:], tool_line, b'{"error":"boom"}\n{"m'):
        tap.feed(chunk)
    tap.finish()

    assert tap.final is None
    assert tap.tokens == 3  # two content lines and the tool call; not the error, not the partial


def charged_tokens(gateway_url: str, api_key: str, tpm: int) -> int:
    """Tokens charged to the key so far, from the ``x-ratelimit-remaining-tokens`` header."""
    answer = httpx.get(
        f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {api_key}"}, timeout=5
    )
    return tpm - int(answer.headers["x-ratelimit-remaining-tokens"])


@pytest.mark.parametrize("fault", ["drop", "midstream-error"])
def test_a_native_stream_ollama_breaks_is_charged_for_the_tokens_relayed(
    gateway_factory: Callable[..., str],
    gateway_api_key: str,
    fake_ollama: FakeOllamaProcess,
    fault: str,
) -> None:
    # Ollama dies (drop) or reports an error (midstream-error) after a few tokens: the stream has
    # no final line, and what it produced must still reach the token limit and the metrics.
    tpm = 1000
    url = gateway_factory(default_tpm=tpm)
    before = token_totals("other")
    body = {"model": f"fault-{fault}", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    with httpx.stream("POST", f"{url}/api/chat", json=body, headers=headers, timeout=10) as answer:
        lines = [orjson.loads(line) for line in answer.iter_lines() if line]

    relayed = [line for line in lines if "error" not in line]
    assert "error" in lines[-1]
    assert len(relayed) == 3  # the fake's fault_after
    assert charged_tokens(url, gateway_api_key, tpm) == len(relayed)
    after = token_totals("other")
    assert (after[0] - before[0], after[1] - before[1]) == (0, len(relayed))


def test_a_native_stream_the_client_leaves_is_charged_for_the_tokens_relayed(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    # 3000 tokens 20 ms apart: only the client's departure ends this stream early.
    fake_ollama.configure(thinking_tokens=0, content_tokens=3000, token_delay=0.02)
    tpm = 10_000
    url = gateway_factory(default_tpm=tpm)
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    read = 0
    with httpx.stream("POST", f"{url}/api/chat", json=body, headers=headers, timeout=10) as answer:
        for line in answer.iter_lines():
            read += bool(line)
            if read == 5:
                break

    # Settled when the gateway notices the departure (at its next write): poll, bounded.
    charged = wait_until(
        lambda: charged_tokens(url, gateway_api_key, tpm), "the abandoned stream charged"
    )
    assert 5 <= charged < 3000
