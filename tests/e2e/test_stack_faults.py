"""Faults injected into the running stack, each with what a user then sees (README "CI").

Ollama killed in the middle of streams, Ollama down while the gateway starts, Ollama slower than
the first-byte timeout, Redis stopped, a gunicorn worker SIGKILLed during streams, nginx
restarted, the gateway restarted under load. Every test leaves the stack as it found it (all
services up, chat answering) and waits on conditions with generous deadlines: nothing here
asserts that the machine is fast. What was measured is listed under "e2e measurements".
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack, StackSettings
from tests.e2e.traffic import (
    BROKEN,
    CLIENT_TIMEOUT,
    DONE,
    ERROR_EVENT,
    HI,
    PUBLIC_MODEL,
    Load,
    RecordedStream,
    access_log_entry,
    fake_admin,
    get,
    metric,
    new_key,
    post,
    scrape,
    wait_for,
)
from tests.e2e.workers import kill_worker, workers

pytestmark = pytest.mark.e2e

Measured = Callable[[str, str], None]

SLOW_MODEL = "fault-slow"  # the fake streams `slow_tokens` tokens `slow_token_delay` apart
HANG_MODEL = "fault-hang"  # the fake never answers (until the client leaves)
# The product target for the SSE error event after Ollama dies is 2 s. The only timeout that
# could end such a stream otherwise is GATEWAY_CHUNK_TIMEOUT (120 s): a deadline of 15 s proves
# the gateway noticed the broken connection, with room for a busy machine.
PROMPT = 15.0
# Ollama back: container start, then the fake's model pull (it fails once on purpose, retries
# after 1 s, then takes pull_seconds).
RECOVERY = 120.0
# The gateway container back: gunicorn master, then workers importing the app on a busy machine.
GATEWAY_BACK = 120.0
CHAT = "/v1/chat/completions"
NATIVE_MODEL = "gpt-oss:20b"  # the native API relays the body unchanged: no aliases there


def chat(stack: Stack, key: str, *, stream: bool = False) -> httpx.Response:
    """One short chat completion through nginx (any status): a few tokens, a fraction of a
    second at the session's token pace."""
    body = {"model": PUBLIC_MODEL, "messages": HI, "stream": stream, "max_completion_tokens": 4}
    return post(stack, key, CHAT, body)


def native_chat(stack: Stack, key: str) -> httpx.Response:
    """One short Ollama-native ``/api/chat`` through nginx, not streamed (any status)."""
    body = {"model": NATIVE_MODEL, "messages": HI, "stream": False, "options": {"num_predict": 4}}
    return post(stack, key, "/api/chat", body)


def envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object of ``response``, checked to be a JSON envelope with ``status``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error: dict[str, Any] = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    if code is not None:
        assert error["code"] == code, error
    return error


def chat_answers(stack: Stack, key: str) -> httpx.Response | None:
    """A 200 chat completion, or None (for polling)."""
    response = chat(stack, key)
    return response if response.status_code == 200 else None


def readiness(stack: Stack) -> httpx.Response:
    """``GET /health/ready`` through nginx."""
    return get(stack, "/health/ready")


def not_ready(stack: Stack) -> httpx.Response | None:
    """The readiness answer when it is a 503, else None (for polling)."""
    response = readiness(stack)
    return response if response.status_code == 503 else None


@pytest.fixture(scope="module")
def fault_key(ready_stack: Stack) -> str:
    """A key whose limits never refuse anything here but still produce ``x-ratelimit-*``."""
    _, key = new_key(
        ready_stack, "faults", "--rpm", "1000000", "--tpm", "1000000000", "--max-concurrent", "0"
    )
    return key


def test_ollama_slower_than_the_timeout_gets_a_504_envelope(
    ready_stack: Stack, stack_settings: StackSettings, fault_key: str, measured: Measured
) -> None:
    # Streams wait GATEWAY_FIRST_BYTE_TIMEOUT for the first byte; a whole answer, asked from
    # Ollama in one piece, shows nothing before its end: it gets the time cap on top.
    limit = stack_settings.first_byte_timeout
    whole_limit = limit + stack_settings.max_generation_seconds
    calls: dict[str, tuple[str, dict[str, Any], float, str]] = {
        "chat": (CHAT, {"model": HANG_MODEL, "messages": HI}, whole_limit, "generation_time_limit"),
        "chat stream": (
            CHAT,
            {"model": HANG_MODEL, "messages": HI, "stream": True},
            limit,
            "upstream_timeout",
        ),
        "native chat": (
            "/api/chat",
            {"model": HANG_MODEL, "messages": HI},
            limit,
            "upstream_timeout",
        ),
    }

    def timed(path: str, body: dict[str, Any], wait: float) -> tuple[float, httpx.Response]:
        started = time.monotonic()
        response = post(ready_stack, fault_key, path, body, timeout=wait + CLIENT_TIMEOUT)
        return time.monotonic() - started, response

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {name: pool.submit(timed, *call[:3]) for name, call in calls.items()}
        results = {name: future.result() for name, future in futures.items()}

    for name, (elapsed, response) in results.items():
        _, _, wait, code = calls[name]
        error = envelope(response, 504, code)  # the gateway's, not nginx's
        assert "GATEWAY_FIRST_BYTE_TIMEOUT" in error["message"], (name, error)
        assert elapsed >= wait * 0.9, (name, elapsed)  # it did wait for Ollama first

    # The gateway gave up on Ollama too: the fake saw those clients leave while it "hung".
    def abandoned() -> bool:
        seen = fake_admin(ready_stack, "GET", "/_fake/cancelled")["cancelled"]
        return len([c for c in seen if c["model"] == HANG_MODEL and c["stage"] == "hang"]) >= 3

    wait_for(abandoned, timeout=30, what="Ollama's hanging requests to be abandoned")
    assert chat_answers(ready_stack, fault_key) is not None  # nothing left behind
    measured(
        "Ollama slower than GATEWAY_FIRST_BYTE_TIMEOUT",
        "504 upstream_timeout (stream, native) after "
        f"{max(results['chat stream'][0], results['native chat'][0]):.1f} s (timeout {limit:g} s); "
        f"whole chat 504 generation_time_limit after {results['chat'][0]:.1f} s "
        f"(first byte + time cap {whole_limit:g} s)",
    )


def test_redis_stopped_then_started_follows_the_fail_open_setting(
    ready_stack: Stack, stack_settings: StackSettings, fault_key: str, measured: Measured
) -> None:
    ready_stack.run("stop", "redis")
    try:
        during = [chat(ready_stack, fault_key) for _ in range(3)]
        during += [chat(ready_stack, fault_key, stream=True), native_chat(ready_stack, fault_key)]
        unready = wait_for(
            lambda: not_ready(ready_stack), timeout=30, what="readiness to report Redis down"
        )
    finally:
        ready_stack.run("start", "redis")

    assert all(r.status_code != 500 for r in during), [r.text for r in during]
    if stack_settings.ratelimit_fail_open:
        for response in during:
            assert response.status_code == 200, response.text
            assert "x-ratelimit-remaining-requests" not in response.headers  # limits are off
    else:
        for response in during:
            envelope(response, 503, "rate_limit_store_unavailable")
            assert response.headers["retry-after"] == "1"
    assert unready.json()["components"]["redis"]["status"] != "ok"
    assert get(ready_stack, "/health/live").status_code == 200

    back_at = time.monotonic()

    def limited() -> httpx.Response | None:
        response = chat(ready_stack, fault_key)
        counted = "x-ratelimit-remaining-requests" in response.headers
        return response if response.status_code == 200 and counted else None

    wait_for(limited, timeout=RECOVERY, what="the rate limits to be back with Redis")
    wait_for(
        lambda: readiness(ready_stack).status_code == 200,
        timeout=RECOVERY,
        what="readiness after Redis is back",
    )
    policy = "fail open: 200 without limits" if stack_settings.ratelimit_fail_open else "503"
    measured(
        "Redis stopped / started",
        f"{len(during)} requests during the outage: {policy}, no 500; limits back "
        f"{time.monotonic() - back_at:.1f} s after `start redis`",
    )


def test_ollama_killed_mid_stream_then_down_while_the_gateway_starts_then_back(
    ready_stack: Stack, stack_settings: StackSettings, fault_key: str, measured: Measured
) -> None:
    # One Ollama outage, three faults a user meets: streams under way when Ollama dies, a
    # gateway (re)started while Ollama is down, and Ollama coming back (the gateway untouched).
    try:
        killed = kill_ollama_mid_stream(ready_stack, stack_settings)
        measured("Ollama killed mid-stream -> error event (target 2 s)", killed)
        at_start = restart_the_gateway_while_ollama_is_down(ready_stack, fault_key)
        measured("Ollama down when the gateway starts", at_start)
        started = ready_stack.state("gateway")["StartedAt"]
        pids = set(workers(ready_stack))
    finally:
        back_at = time.monotonic()
        ready_stack.run("start", "ollama")
        wait_for(lambda: chat_answers(ready_stack, fault_key), timeout=RECOVERY, what="chat")
    recovered = time.monotonic() - back_at
    assert ready_stack.state("gateway")["StartedAt"] == started, "the gateway was restarted"
    assert set(workers(ready_stack)) == pids, "a gateway worker was restarted"
    measured(
        "Ollama back",
        f"first 200 {recovered:.1f} s after `start ollama` (the model pull included), "
        "gateway and its workers not restarted",
    )


def kill_ollama_mid_stream(stack: Stack, settings: StackSettings) -> str:
    """``docker kill`` Ollama under three streams (chat, responses, native): each must end with
    its protocol's error soon, and every token it delivered must be charged. Leaves Ollama down.
    """
    tpm = 10_000_000
    name, key = new_key(
        stack, "ollama-kill", "--rpm", "0", "--tpm", str(tpm), "--max-concurrent", "0"
    )
    base = stack.base_url
    run = secrets.token_hex(4)
    streams = {
        "chat": RecordedStream(
            f"{base}{CHAT}",
            {"model": SLOW_MODEL, "messages": HI, "stream": True},
            key,
            f"kill-chat-{run}",
        ),
        "responses": RecordedStream(
            f"{base}/v1/responses",
            {"model": SLOW_MODEL, "input": "hi", "stream": True},
            key,
            f"kill-responses-{run}",
        ),
        "native": RecordedStream(
            f"{base}/api/chat", {"model": SLOW_MODEL, "messages": HI}, key, f"kill-native-{run}"
        ),
    }
    ollama = stack.container_id("ollama")
    for stream in streams.values():
        stream.start()
    try:
        wait_for(
            lambda: all(s.tokens >= 3 for s in streams.values()),
            timeout=CLIENT_TIMEOUT,
            what="every stream to be under way",
        )
        killed_at = time.monotonic()
        stack.docker("kill", ollama)
    finally:
        for stream in streams.values():
            stream.join(timeout=CLIENT_TIMEOUT + 10)

    seconds = {}
    for kind, stream in streams.items():
        assert not stream.is_alive(), f"{kind}: the stream hangs after Ollama died"
        assert stream.status == 200
        assert stream.ending == ERROR_EVENT, (kind, stream.ending, stream.error, stream.last)
        assert stream.tokens < settings.slow_tokens  # cut, not finished
        seconds[kind] = stream.items[-1][0] - killed_at
        assert seconds[kind] < PROMPT, (kind, seconds[kind])
    chat_error = streams["chat"].last["error"]
    assert {"message", "type", "param", "code"} <= set(chat_error)
    assert "connection to Ollama broke" in chat_error["message"]  # noticed, not timed out
    assert streams["responses"].last["response"]["status"] == "failed"
    assert "connection to Ollama broke" in streams["native"].last["error"]

    # Every token the clients got is charged: in the metrics, the access log, the token limit.
    relayed = sum(stream.tokens for stream in streams.values())
    samples = scrape(stack, settings.metrics_token)
    assert metric(samples, "gateway_completion_tokens_total", key=name) == relayed
    for kind, stream in streams.items():
        entry = wait_for(
            partial(access_log_entry, stack, stream.request_id),
            timeout=30,
            what=f"the access log line of the {kind} stream",
        )
        assert entry["outcome"] == "upstream_error", entry
        assert entry["completion_tokens"] == stream.tokens, (entry, stream.tokens)

    def charged() -> int | None:
        # Ollama is down: each probe is a 503 with Retry-After, and the limit headers.
        answer = chat(stack, key)
        envelope(answer, 503, "ollama_unavailable")
        assert answer.headers["retry-after"] == "5"
        used = tpm - int(answer.headers["x-ratelimit-remaining-tokens"])
        return used if used == relayed else None

    wait_for(charged, timeout=30, what=f"{relayed} tokens charged to the key")
    return (
        ", ".join(f"{kind} {s:.2f} s" for kind, s in seconds.items())
        + f" after `docker kill`; {relayed} tokens relayed, {relayed} charged"
    )


def restart_the_gateway_while_ollama_is_down(stack: Stack, key: str) -> str:
    """Ollama stays down while the gateway restarts: it must start anyway and answer 503."""
    stack.run("stop", "ollama")  # already stopped when it was killed: then a no-op
    # `docker compose restart gateway` restarts nginx after it (depends_on: restart: true).
    stack.run("restart", "gateway")
    wait_for(
        lambda: get(stack, "/health/live").status_code == 200,
        timeout=GATEWAY_BACK,
        what="the gateway to answer through nginx",
    )
    down = [chat(stack, key), chat(stack, key, stream=True), native_chat(stack, key)]
    for response in down:
        error = envelope(response, 503, "ollama_unavailable")
        assert response.headers["retry-after"] == "5"
        assert "Retry in 5 s" in error["message"]
    unready = readiness(stack)
    assert unready.status_code == 503
    assert unready.json()["components"]["ollama"]["status"] == "down"
    return "503 ollama_unavailable + Retry-After: 5 (chat, stream, native), readiness 503"


def test_worker_killed_during_streams_breaks_only_its_own_streams(
    ready_stack: Stack, stack_settings: StackSettings, fault_key: str, measured: Measured
) -> None:
    before = workers(ready_stack)
    assert len(before) == 2, before
    body = {"model": SLOW_MODEL, "messages": HI, "stream": True}
    streams: list[RecordedStream] = []
    run = secrets.token_hex(4)
    busy: dict[int, int] = {}
    # Open streams until both workers serve some (which worker accepts is up to the kernel).
    for index in range(12):
        stream = RecordedStream(
            f"{ready_stack.base_url}{CHAT}", body, fault_key, f"w-{run}-{index}"
        )
        stream.start()
        streams.append(stream)
        if index < 3:
            continue
        wait_for(
            lambda: all(s.tokens >= 1 for s in streams),
            timeout=CLIENT_TIMEOUT,
            what="the streams to be under way",
        )
        busy = {pid: w.in_flight for pid, w in workers(ready_stack).items()}
        if len(busy) == 2 and min(busy.values()) >= 1:
            break
    else:
        pytest.fail(f"the streams never spread over both workers: {busy}")
    victim = max(busy, key=lambda pid: busy[pid])
    killed_at = time.monotonic()
    kill_worker(ready_stack, victim)
    for stream in streams:
        stream.join(timeout=CLIENT_TIMEOUT + 30)

    assert not any(s.is_alive() for s in streams), "a stream hangs after its worker died"
    broken = [s for s in streams if s.ending != DONE]
    finished = [s for s in streams if s.ending == DONE]
    assert broken, "no stream was on the killed worker"
    assert len(broken) <= busy[victim], (len(broken), busy)  # the others' streams all finished
    for stream in broken:
        # The client's HTTP library raises (nginx cuts the chunked body): never a silent end.
        assert stream.ending == BROKEN, (stream.ending, stream.last)
        assert stream.end_seconds_after(killed_at) < PROMPT
    expected_tokens = 8 + stack_settings.slow_tokens  # the fake's thinking + the slow content
    for stream in finished:
        assert stream.tokens == expected_tokens, stream.tokens

    def replaced() -> dict[int, object] | None:
        now = workers(ready_stack)
        return dict(now) if len(now) == 2 and victim not in now else None

    after = wait_for(replaced, timeout=GATEWAY_BACK, what="gunicorn to replace the killed worker")
    replaced_after = time.monotonic() - killed_at

    # Its in-flight requests do not stay counted (the master drops a dead worker's gauges).
    def nothing_in_flight() -> bool:
        samples = scrape(ready_stack, stack_settings.metrics_token)
        return metric(samples, "gateway_http_requests_in_flight") == 0

    wait_for(nothing_in_flight, timeout=60, what="the in-flight gauge back to 0")
    for _ in range(4):  # whichever workers nginx reaches, the new one included
        assert chat(ready_stack, fault_key).status_code == 200
    measured(
        "gunicorn worker SIGKILLed during streams",
        f"{len(broken)} of {len(streams)} streams broken (client error after "
        f"{max(s.end_seconds_after(killed_at) for s in broken):.2f} s), {len(finished)} finished; "
        f"new worker {sorted(set(after) - set(before))} within {replaced_after:.1f} s",
    )


def test_nginx_restart_is_survived(ready_stack: Stack, fault_key: str, measured: Measured) -> None:
    old_url = ready_stack.base_url
    restarted_at = time.monotonic()
    ready_stack.run("restart", "nginx")
    wait_for(lambda: chat_answers(ready_stack, fault_key), timeout=60, what="chat through nginx")
    back = time.monotonic() - restarted_at
    answers = [chat(ready_stack, fault_key), chat(ready_stack, fault_key, stream=True)]
    answers.append(get(ready_stack, "/v1/models", fault_key))
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert answers[1].text.rstrip().endswith("data: [DONE]")
    moved = "" if ready_stack.base_url == old_url else " (its published port moved)"
    measured("nginx restarted", f"requests succeed again {back:.1f} s after the restart{moved}")


def test_gateway_restarted_under_load_answers_envelopes_then_succeeds(
    ready_stack: Stack, fault_key: str, measured: Measured
) -> None:
    url = ready_stack.base_url  # nginx stays up: the same port throughout
    with Load(url, fault_key, clients=4) as load:
        wait_for(
            lambda: sum(o.status == 200 for o in load.snapshot()) >= 8,
            timeout=CLIENT_TIMEOUT,
            what="the load to be flowing",
        )
        started = time.monotonic()
        # The gateway alone (--no-deps), as when it crashes and Docker restarts it: nginx stays.
        ready_stack.run("restart", "--no-deps", "gateway")
        restarted = time.monotonic()

        def answered_after_restart() -> bool:
            later = [o for o in load.snapshot() if o.started > restarted]
            return len(later) >= 8 and all(o.status == 200 for o in later[-8:])

        wait_for(answered_after_restart, timeout=GATEWAY_BACK, what="success after the restart")
    outcomes = load.snapshot()

    for outcome in outcomes:
        assert outcome.status is not None, f"no answer at all (hang or reset): {outcome.error}"
        if outcome.status == 200:
            assert outcome.complete, outcome.body[-300:]
            continue
        assert outcome.status in (502, 503, 504), (outcome.status, outcome.body)
        assert outcome.content_type.startswith("application/json"), outcome.content_type
        error = json.loads(outcome.body)["error"]  # never HTML
        assert error["message"], error
        assert error["code"], error
    errors = [o for o in outcomes if o.status != 200]
    codes = sorted({f"{o.status} {json.loads(o.body)['error']['code']}" for o in errors})
    measured(
        "gateway restarted under load (4 clients)",
        f"{len(outcomes)} requests: {len(outcomes) - len(errors)} ok, {len(errors)} envelopes "
        f"{codes}, none HTML or hanging; restart command {restarted - started:.1f} s",
    )
