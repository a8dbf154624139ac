"""Overload: far more concurrent streams than Ollama runs, through 1 and then 2 gateway workers.

Starts the fake Ollama (``num_parallel`` generations at once, the others queue like Ollama's),
a throw-away ``redis-server`` and ``gateway serve --workers N`` with admission control on
(``GATEWAY_OLLAMA_PARALLEL`` = the fake's parallelism), all on free 127.0.0.1 ports. Then it
opens ``--streams`` streamed chats over ``--ramp`` seconds and checks what README "Overload"
promises: every stream either completes (``data: [DONE]``) or gets 503 ``server_overloaded``
with ``Retry-After`` within ``GATEWAY_QUEUE_TIMEOUT`` + 1 s; no other error; no hang; and the
gateway stays responsive (``/health/live`` p99 under 50 ms, sampled all along). It reports the
worker RSS and writes ``bench/results/overload.json`` and ``overload.png`` (queue depth and
admitted generations over time). Exit status 0 when every check passed.

    make overload                                   # 1,000 streams, parallelism 4, 1 and 2 workers
    .venv/bin/python bench/overload.py --streams 200 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from soak import rss_mib  # noqa: E402
from tests.support.gunicorn import running_gunicorn  # noqa: E402
from tests.unit.gateway.access.ratelimit_support import running_redis  # noqa: E402

from fake_ollama.testing import FakeOllamaProcess  # noqa: E402

API_KEY = "sk-overload-0123456789abcdef0123456789abcdef"
HOST = "127.0.0.1"
RESULTS = REPO_ROOT / "bench" / "results"
LIVE_P99_LIMIT_MS = 50.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (1000)")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to open them all (10)")
    parser.add_argument("--parallel", type=int, default=4, help="generations Ollama runs (4)")
    parser.add_argument("--tokens", type=int, default=20, help="content tokens per answer (20)")
    parser.add_argument("--token-delay", type=float, default=0.05, help="seconds per token")
    parser.add_argument("--queue-max", type=int, default=100, help="GATEWAY_QUEUE_MAX (100)")
    parser.add_argument("--queue-timeout", type=float, default=20.0, help="GATEWAY_QUEUE_TIMEOUT")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="runs (1 2)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def request_bytes(port: int) -> bytes:
    """One streamed chat request."""
    body = json.dumps(
        {"model": "gpt-oss-20b", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def one_stream(port: int, request: bytes, deadline: float) -> dict[str, Any]:
    """Send one streamed chat and classify its end: done, overloaded, error or hang."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                rest = await reader.read()  # Connection: close: the body ends with the socket
            finally:
                writer.close()
    except TimeoutError:
        return {"outcome": "hang", "seconds": time.monotonic() - started}
    except OSError as exc:
        return {"outcome": f"error:{type(exc).__name__}", "seconds": time.monotonic() - started}
    seconds = time.monotonic() - started
    lowered = head.lower()
    if status == 200 and b"data: [DONE]" in rest:
        return {"outcome": "done", "seconds": seconds}
    if status == 503 and b"server_overloaded" in rest and b"retry-after:" in lowered:
        return {"outcome": "overloaded", "seconds": seconds}
    return {"outcome": f"error:{status}", "seconds": seconds, "body": rest[:200].decode("latin-1")}


async def probe_live(port: int, stop: asyncio.Event, latencies: list[float]) -> None:
    """``GET /health/live`` every 100 ms on a fresh connection; record each latency in ms."""
    request = f"GET /health/live HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    while not stop.is_set():
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        await reader.read()
        writer.close()
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.1)


async def sample_queue(port: int, stop: asyncio.Event, samples: list[dict[str, Any]]) -> None:
    """Read ``/health/ready``'s queue every 0.5 s: depth and admitted generations over time."""
    request = f"GET /health/ready HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    started = time.monotonic()
    while not stop.is_set():
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        raw = await reader.read()
        writer.close()
        queue = json.loads(raw.partition(b"\r\n\r\n")[2]).get("queue", {})
        samples.append({"seconds": round(time.monotonic() - started, 2), **queue})
        await asyncio.sleep(0.5)


async def drive(port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Open the streams over the ramp while probing liveness and sampling the queue."""
    request = request_bytes(port)
    deadline = args.queue_timeout + args.tokens * args.token_delay * args.streams / args.parallel
    deadline = min(deadline, args.queue_timeout + 120.0)
    stop = asyncio.Event()
    latencies: list[float] = []
    samples: list[dict[str, Any]] = []
    watchers = [
        asyncio.create_task(probe_live(port, stop, latencies)),
        asyncio.create_task(sample_queue(port, stop, samples)),
    ]
    tasks = []
    for i in range(args.streams):
        tasks.append(asyncio.create_task(one_stream(port, request, deadline)))
        await asyncio.sleep(args.ramp / args.streams if i < args.streams - 1 else 0)
    results = await asyncio.gather(*tasks)
    stop.set()
    await asyncio.gather(*watchers)
    latencies.sort()
    outcomes = Counter(r["outcome"] for r in results)
    late = [r for r in results if r["outcome"] == "overloaded"]
    late = [r for r in late if r["seconds"] > args.queue_timeout + 1]
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
    return {
        "outcomes": dict(outcomes),
        "overloaded_after_queue_timeout_plus_1s": len(late),
        "errors_sample": [r for r in results if r["outcome"].startswith("error")][:5],
        "live_probe": {
            "count": len(latencies),
            "p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "p99_ms": p99,
        },
        "queue_samples": samples,
    }


def run_once(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """One overload run through ``workers`` gunicorn workers."""
    with FakeOllamaProcess() as fake, running_redis() as redis:
        fake.configure(
            num_parallel=args.parallel,
            content_tokens=args.tokens,
            thinking_tokens=0,
            token_delay=args.token_delay,
            quiet=True,
        )
        env = {
            "GATEWAY_OLLAMA_URL": fake.url,
            "GATEWAY_API_KEYS": API_KEY,
            "GATEWAY_DEFAULT_RPM": "0",
            "GATEWAY_DEFAULT_TPM": "0",
            "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
            "GATEWAY_RATELIMIT_STORAGE": redis.url,
            "GATEWAY_OLLAMA_PARALLEL": str(args.parallel),
            "GATEWAY_QUEUE_MAX": str(args.queue_max),
            "GATEWAY_QUEUE_TIMEOUT": str(args.queue_timeout),
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
        with running_gunicorn(env, workers=workers) as gateway:
            port = int(gateway.url.rsplit(":", 1)[1])
            report = asyncio.run(drive(port, args))
            report["worker_rss_mib"] = [rss_mib(pid) for pid in sorted(gateway.worker_pids())]
        report["peak_generations_at_ollama"] = fake.stats()["peak_generations_in_flight"]
    report["workers"] = workers
    outcomes = report["outcomes"]
    report["passed"] = (
        set(outcomes) <= {"done", "overloaded"}
        and report["overloaded_after_queue_timeout_plus_1s"] == 0
        and report["peak_generations_at_ollama"] <= args.parallel
        and report["live_probe"]["p99_ms"] < LIVE_P99_LIMIT_MS
    )
    return report


def write_plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Queue depth and admitted generations over time, one panel per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        samples = run["queue_samples"]
        seconds = [s["seconds"] for s in samples]
        ax.plot(seconds, [s.get("queued", 0) for s in samples], label="queued")
        ax.plot(seconds, [s.get("in_flight", 0) for s in samples], label="admitted (in flight)")
        verdict = "PASS" if run["passed"] else "FAIL"
        ax.set_title(f"{run['workers']} worker(s): {run['outcomes']} — {verdict}", fontsize=8)
        ax.set_xlabel("seconds")
        ax.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run each configuration, write JSON + PNG, print the summary."""
    args = parse_args(argv)
    runs = [run_once(workers, args) for workers in args.workers]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = {"settings": {k: str(v) for k, v in vars(args).items()}, "runs": runs}
    (args.output_dir / "overload.json").write_text(json.dumps(report, indent=2))
    write_plot(runs, args.output_dir / "overload.png")
    for run in runs:
        summary = {k: v for k, v in run.items() if k != "queue_samples"}
        print(json.dumps(summary))
    return 0 if all(run["passed"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
