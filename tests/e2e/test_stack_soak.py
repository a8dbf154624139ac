"""Soak: a minute of mixed traffic through the whole stack (nginx, gateway, Redis, fake Ollama).

Chat, streamed chat, responses (plain and streamed), embeddings, Ollama-native chat (plain and
streamed) and a ``/metrics`` scrape every few seconds, from a few paced clients: no request may
fail, and the resident memory of each gunicorn worker may not grow by 10 % or more from the end
of a warm-up to the end of the soak. ``FULL=1`` soaks for 10 minutes instead of one (README
"CI"). The stack of the e2e session is used as it is: it is already up, so the soak costs only
its own minute, and the traffic takes the path users' traffic takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from tests.e2e.soak import EMBEDDING_MODEL, KINDS, Soak, Tally
from tests.e2e.stack import Stack, StackSettings
from tests.e2e.traffic import fake_admin, metric, new_key, post, scrape, wait_for
from tests.e2e.workers import workers

pytestmark = pytest.mark.e2e

FULL = os.environ.get("FULL", "") not in ("", "0")
SOAK_SECONDS = 600.0 if FULL else 60.0
WARMUP_SECONDS = 60.0 if FULL else 15.0
CLIENTS = 6
# One request per client every 0.15 s at most: ~40 requests/s, far below what the stack can
# serve, so the soak measures leaks rather than saturation, leaves the busy machine some air and
# stays under gunicorn's max_requests recycling (20000 per worker) even over 10 minutes.
INTERVAL = 0.15
# The fake's pace during the soak (the session's 50 ms per token would make each answer 1.6 s).
TOKEN_DELAY = 0.002
MAX_RSS_GROWTH = 0.10


def describe(tally: Tally) -> str:
    """``N requests in S s (R/s), E errors; kind n, ...`` for the measurements."""
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.requests.items()))
    rate = tally.total / tally.seconds if tally.seconds else 0.0
    return (
        f"{tally.total} requests in {tally.seconds:.0f} s ({rate:.0f}/s), "
        f"{tally.failed} errors; {kinds}"
    )


def test_soak_mixed_traffic_without_errors_or_memory_growth(
    ready_stack: Stack, stack_settings: StackSettings, measured: Callable[[str, str], None]
) -> None:
    # Limits that never refuse but still run Redis on every request; admin for the pull below.
    limits = ("--rpm", "10000000", "--tpm", "10000000000", "--max-concurrent", "0", "--admin")
    _, key = new_key(ready_stack, "soak", *limits)
    # Streamed: Ollama says nothing else until the download ends (beyond the first-byte timeout).
    pulled = post(ready_stack, key, "/api/pull", {"model": EMBEDDING_MODEL}, timeout=120)
    assert pulled.status_code == 200, pulled.text
    assert json.loads(pulled.text.splitlines()[-1]) == {"status": "success"}, pulled.text
    soak = Soak(
        ready_stack.base_url, key, stack_settings.metrics_token, clients=CLIENTS, interval=INTERVAL
    )
    knobs = fake_admin(ready_stack, "GET", "/_fake/config")
    fake_admin(ready_stack, "POST", "/_fake/config", {"token_delay": TOKEN_DELAY})
    try:
        warmup = soak.run(WARMUP_SECONDS)
        before = workers(ready_stack)
        tally = soak.run(SOAK_SECONDS)
        after = workers(ready_stack)
    finally:
        fake_admin(ready_stack, "POST", "/_fake/config", {"token_delay": knobs["token_delay"]})

    growth = {
        pid: (after[pid].rss_kb - worker.rss_kb) / worker.rss_kb
        for pid, worker in before.items()
        if pid in after
    }
    rss = "; ".join(
        f"worker {pid}: {before[pid].rss_kb / 1024:.1f} -> {after[pid].rss_kb / 1024:.1f} MiB "
        f"({growth[pid]:+.1%})"
        for pid in sorted(growth)
    )
    measured(f"soak warm-up ({WARMUP_SECONDS:.0f} s)", describe(warmup))
    measured(f"soak ({SOAK_SECONDS:.0f} s{', FULL' if FULL else ''})", describe(tally))
    measured("soak gunicorn worker RSS after warm-up -> after soak", rss)

    assert warmup.failed == 0, warmup.samples
    assert tally.failed == 0, tally.samples
    assert set(tally.requests) == {*KINDS, "metrics scrape"}, tally.requests
    assert set(after) == set(before), f"workers died or were recycled: {before} -> {after}"
    for pid, grew in growth.items():
        assert grew < MAX_RSS_GROWTH, f"worker {pid} grew {grew:.1%}: {rss}"

    def nothing_in_flight() -> bool:
        samples = scrape(ready_stack, stack_settings.metrics_token)
        return metric(samples, "gateway_http_requests_in_flight") == 0

    wait_for(nothing_in_flight, timeout=60, what="no request left in flight after the soak")
