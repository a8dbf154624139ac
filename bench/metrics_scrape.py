"""How long a Prometheus scrape of ``/metrics`` takes under gunicorn after a given load.

Starts the fake Ollama and ``gateway serve --workers N`` (multiprocess metrics, auth on, limits
off) on free 127.0.0.1 ports, sends ``--requests`` API requests (70% chat, 20% streamed chat,
10% model list) from ``--concurrency`` keep-alive connections, then times ``--scrapes``
sequential scrapes with the bearer token. Prints a JSON summary (milliseconds).

    .venv/bin/python bench/metrics_scrape.py [--requests 10000] [--workers 4] [--scrapes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from fake_ollama.testing import FakeOllamaProcess, free_port

API_KEY = "sk-bench-metrics-0123456789abcdef0123"
TOKEN = "bench-metrics-token"  # noqa: S105 - throwaway token of a local benchmark
CHAT = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}


def start_gateway(
    ollama_url: str, workers: int, metrics_dir: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``gateway serve`` on a free port, once every worker answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_OLLAMA_URL=ollama_url,
        GATEWAY_API_KEYS=API_KEY,
        GATEWAY_METRICS_TOKEN=TOKEN,
        GATEWAY_DEFAULT_RPM="0",
        GATEWAY_DEFAULT_TPM="0",
        GATEWAY_DEFAULT_MAX_CONCURRENT="0",
        GATEWAY_LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
    )
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    process = subprocess.Popen([*command, "--workers", str(workers)], env=env)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                time.sleep(1.0)  # let the other workers finish booting
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not start")


async def load(url: str, total: int, concurrency: int) -> dict[int, int]:
    """Send ``total`` requests; return how many got each status."""
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            for i in counter:
                if i % 10 == 0:
                    response = await client.get("/v1/models")
                else:
                    body: dict[str, Any] = {**CHAT, "stream": i % 10 in (1, 2)}
                    response = await client.post("/v1/chat/completions", json=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def time_scrapes(url: str, count: int) -> tuple[list[float], int, int]:
    """Durations (ms) of ``count`` sequential scrapes, the body size and the series count."""
    durations: list[float] = []
    body = b""
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(f"{url}/metrics")
            durations.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            body = response.content
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return durations, len(body), series


def main() -> int:
    """Run the benchmark and print its JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    with FakeOllamaProcess(args=["--quiet"]) as fake, tempfile.TemporaryDirectory() as metrics_dir:
        process, url = start_gateway(fake.url, args.workers, metrics_dir)
        try:
            started = time.perf_counter()
            statuses = asyncio.run(load(url, args.requests, args.concurrency))
            load_seconds = time.perf_counter() - started
            durations, size, series = time_scrapes(url, args.scrapes)
            files = len(list(Path(metrics_dir).glob("*.db")))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    ordered = sorted(durations)
    summary = {
        "workers": args.workers,
        "requests": args.requests,
        "statuses": statuses,
        "load_seconds": round(load_seconds, 1),
        "scrapes": args.scrapes,
        "scrape_ms_median": round(statistics.median(durations), 2),
        "scrape_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "scrape_ms_max": round(ordered[-1], 2),
        "exposition_bytes": size,
        "series": series,
        "multiproc_files": files,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
