"""Several Ollama backends: how evenly the gateway spreads generations, and what a killed backend
costs the clients. Fake Ollama processes behind ``gateway serve`` (2 workers); every second request
is streamed; nothing is retried by the clients.

    PYTHONPATH=. .venv/bin/python bench/backends.py     # ~1 min; bench/results/backends.json

Scenarios: 4 backends, 16 clients, 2,000 requests (in-flight counts per worker, then shared in
Redis); 3 backends, one killed before 300 requests from 6 clients; 4 backends, one killed after
500 of 2,000 requests (the streams under way on it end with an error event).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.support.gunicorn import running_gunicorn
from tests.support.load import Load
from tests.unit.gateway.access.ratelimit_support import running_redis

from fake_ollama.testing import FakeOllamaProcess

KEY = "sk-bench-backends-0123456789abcdef"
RESULTS = Path(__file__).parent / "results" / "backends.json"


def kill(fake: FakeOllamaProcess) -> None:
    """Crash ``fake`` (SIGKILL: its connections reset, its port closes)."""
    os.kill(fake.pid, signal.SIGKILL)
    os.waitpid(fake.pid, 0)


def scenario(
    backends: int,
    requests: int,
    clients: int,
    storage: str,
    *,
    kill_before: bool = False,
    kill_after: int | None = None,
    token_delay: float = 0.0,
) -> dict[str, Any]:
    """Run one load against ``backends`` fakes; the first one may be killed before or during."""
    with ExitStack() as stack:
        env = {"FAKE_OLLAMA_QUIET": "true", "FAKE_OLLAMA_TOKEN_DELAY": str(token_delay)}
        fakes = [stack.enter_context(FakeOllamaProcess(env=env)) for _ in range(backends)]
        gateway_env = {
            "GATEWAY_OLLAMA_URLS": ",".join(f.url for f in fakes),
            "GATEWAY_API_KEYS": KEY,
            "GATEWAY_DEFAULT_RPM": "0",
            "GATEWAY_DEFAULT_TPM": "0",
            "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
            "GATEWAY_RATELIMIT_STORAGE": storage,
        }
        gateway = stack.enter_context(running_gunicorn(gateway_env, workers=2))
        if kill_before:
            kill(fakes[0])
        load = Load(gateway.url, KEY, clients=clients, stream_every=2, max_requests=requests)
        load.start()
        if kill_after is not None:
            load.wait_for_answers(kill_after, timeout=300)
            kill(fakes[0])
        while load.result.sent < requests:
            time.sleep(0.05)
        result = load.stop()
        killed = kill_before or kill_after is not None
        return {
            "backends": backends,
            "clients": clients,
            "counts": storage.split(":")[0],
            "sent": result.sent,
            "failed": result.failed,
            "failures": dict(result.failures),
            "generations_per_backend": [
                None if killed and i == 0 else f.stats()["generations_total"]
                for i, f in enumerate(fakes)
            ],
            "seconds": round(result.seconds, 1),
        }


def main(argv: list[str] | None = None) -> int:
    """Run every scenario; print one line each and write them to ``--output``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with running_redis() as redis:
        results = {
            "spread, per-worker counts": scenario(4, 2000, 16, "memory://"),
            "spread, counts in Redis": scenario(4, 2000, 16, redis.url),
            "one of 3 killed before the load": scenario(3, 300, 6, "memory://", kill_before=True),
            "one of 4 killed after 500 answers": scenario(
                4, 2000, 16, "memory://", kill_after=500, token_delay=0.002
            ),
        }
    for name, result in results.items():
        print(f"{name}: {json.dumps(result)}")
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
