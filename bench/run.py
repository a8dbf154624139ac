"""``make bench``: what the gateway costs, measured against the fake Ollama on loopback.

Starts the fake Ollama and ``gateway serve --workers 1`` (auth, rate limiting, metrics and access
log on; limits unlimited) on free 127.0.0.1 ports, then measures, each time direct vs gateway:

1. non-streaming chat at 1 and 16 concurrent clients: latency percentiles (and what the gateway
   adds), requests per second, CPU milliseconds per request (``bench/latency.py`` does the work);
2. streaming chat (``bench/streaming.py``): time to the first token, and the rate at which
   chunks are relayed with the fake's ``content_tokens`` knob at ``--relay-tokens`` per reply;
3. memory: the resident set of the gateway worker before and after all of that.

Writes ``bench/results/latest.json`` (machine, git commit, time, every number, and a verdict per
target of ``ARCHITECTURE.md`` "Performance budget") and ``bench/results/latest.png``. Exits 0 when
the benchmark ran, whatever the verdicts; 1 when it could not run (or requests failed).

    .venv/bin/python bench/run.py [--requests 3000] [--max-seconds 240]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from latency import API_KEY, MESSAGES, gateway_serve, http_request, measure
from plot import write_plot
from streaming import NDJSON, SSE, WireFormat, drive_streams

from fake_ollama.testing import FakeOllamaProcess, free_port

RESULTS = Path(__file__).resolve().parent / "results"
BODY = {"model": "gpt-oss:20b", "messages": MESSAGES}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: ARCHITECTURE.md "Performance budget": the whole gateway, everything on, one worker.
ADDED_P50_LIMIT_MS = 1.5
REQ_PER_S_TARGET = 600.0


class BenchmarkTimeout(KeyboardInterrupt):
    """The whole run took longer than ``--max-seconds``.

    Raised from the ``SIGALRM`` handler, which may run inside an asyncio callback: the event loop
    re-raises only ``KeyboardInterrupt``/``SystemExit`` from there (anything else is logged and
    swallowed), so an interruption is what reliably ends the run and its servers.
    """


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one bounded, with defaults that fit in about a minute)."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16], help="concurrent clients per run"
    )
    parser.add_argument("--streams", type=int, default=300, help="streamed answers for first token")
    parser.add_argument("--relay-streams", type=int, default=10, help="long streamed answers")
    parser.add_argument("--relay-tokens", type=int, default=2000, help="tokens per long answer")
    parser.add_argument("--max-seconds", type=int, default=240, help="give up after this long")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    counts = (args.requests, args.warmup, args.streams, args.relay_streams, args.relay_tokens)
    if min(counts) < 1 or min(args.concurrency) < 1 or not 10 <= args.max_seconds <= 3600:
        parser.error("counts and concurrency must be >= 1, --max-seconds between 10 and 3600")
    return args


def non_streaming(
    fake: FakeOllamaProcess, port: int, worker: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Latency, throughput and CPU per request, direct vs gateway, at each concurrency."""
    direct = http_request("/api/chat", {**BODY, "stream": False}, fake.port, {})
    through = http_request("/v1/chat/completions", BODY, port, AUTH)
    runs = []
    for concurrency in args.concurrency:
        load = argparse.Namespace(
            requests=args.requests, warmup=args.warmup, concurrency=concurrency
        )
        result_direct = measure(fake.port, direct, load, {"fake": fake.pid})
        result_gateway = measure(port, through, load, {"gateway": worker, "fake": fake.pid})
        runs.append(
            {
                "concurrency": concurrency,
                "direct": result_direct,
                "gateway": result_gateway,
                "added_ms": {
                    name: round(result_gateway[f"{name}_ms"] - result_direct[f"{name}_ms"], 3)
                    for name in ("p50", "p90", "p99")
                },
                "gateway_worker_cpu_bound_req_per_s": round(
                    1000 / result_gateway["gateway_cpu_ms_per_request"]
                ),
            }
        )
    return runs


def streaming(fake: FakeOllamaProcess, port: int, args: argparse.Namespace) -> dict[str, Any]:
    """First token (default short answers) and relay rate (long answers), direct vs gateway."""
    direct = http_request("/api/chat", {**BODY, "stream": True}, fake.port, {})
    through = http_request("/v1/chat/completions", {**BODY, "stream": True}, port, AUTH)

    def measured(target_port: int, request: bytes, wire: WireFormat, count: int) -> dict[str, Any]:
        asyncio.run(drive_streams(target_port, request, min(count, 20), wire))  # warm-up
        return asyncio.run(drive_streams(target_port, request, count, wire))

    def both(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return measured(fake.port, direct, NDJSON, count), measured(port, through, SSE, count)

    first_direct, first_gateway = both(args.streams)
    fake.configure(thinking_tokens=0, content_tokens=args.relay_tokens)
    try:
        relay_direct, relay_gateway = both(args.relay_streams)
    finally:
        fake.reset()
    return {
        "first_token": {
            "direct": first_direct,
            "gateway": first_gateway,
            "added_p50_ms": round(
                first_gateway["first_token_p50_ms"] - first_direct["first_token_p50_ms"], 3
            ),
        },
        "relay": {
            "tokens_per_reply": args.relay_tokens,
            "direct": relay_direct,
            "gateway": relay_gateway,
        },
    }


def rss_mb(pid: int) -> dict[str, float]:
    """Resident set now and at its peak (``VmRSS``, ``VmHWM``) of process ``pid``, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "peak_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def git_state() -> dict[str, Any]:
    """The commit measured and whether the working tree had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*command: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed git commands, no shell
            ["git", *command],  # noqa: S607 - git from PATH, like every developer
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()

    try:
        return {"sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"sha": "unknown", "dirty": False}


def target(what: str, value: float, limit: float, *, at_most: bool) -> dict[str, Any]:
    """One budget line: the measured value, the limit and whether it is met."""
    return {
        "what": what,
        "value": value,
        "limit": limit,
        "comparison": "<=" if at_most else ">=",
        "pass": value <= limit if at_most else value >= limit,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the fake and the gateway, measure everything, return the report."""
    report: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": machine(),
        "settings": {**vars(args), "output_dir": str(args.output_dir), "gateway_workers": 1},
    }
    started = time.monotonic()
    with FakeOllamaProcess(args=["--quiet"]) as fake:
        port = free_port()
        with gateway_serve(fake.url, port) as worker:
            memory_start = rss_mb(worker)
            report["non_streaming"] = non_streaming(fake, port, worker, args)
            report["streaming"] = streaming(fake, port, args)
            memory_end = rss_mb(worker)
    report["memory"] = {
        "gateway_worker_rss_start_mb": memory_start["rss_mb"],
        "gateway_worker_rss_after_mb": memory_end["rss_mb"],
        "gateway_worker_rss_peak_mb": memory_end["peak_mb"],
    }
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.monotonic() - started, 1)
    first, last = report["non_streaming"][0], report["non_streaming"][-1]
    report["targets"] = {
        "added_p50_ms": target(
            f"p50 latency the gateway adds, non-streaming chat, {first['concurrency']} client(s)",
            first["added_ms"]["p50"],
            ADDED_P50_LIMIT_MS,
            at_most=True,
        ),
        "req_per_s_per_worker": target(
            f"requests per second of one worker, non-streaming chat, {last['concurrency']} clients",
            last["gateway"]["req_per_s"],
            REQ_PER_S_TARGET,
            at_most=False,
        ),
    }
    report["passed"] = all(t["pass"] for t in report["targets"].values())
    return report


def failed_requests(report: dict[str, Any]) -> int:
    """How many measured requests did not get a 200 (the numbers mean nothing if any did)."""
    runs = [r[side] for r in report["non_streaming"] for side in ("direct", "gateway")]
    stream = report["streaming"]
    runs += [
        stream[part][side] for part in ("first_token", "relay") for side in ("direct", "gateway")
    ]
    return sum(int(r["errors"]) for r in runs)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchmarkTimeout


def main(argv: list[str] | None = None) -> int:
    """Run, write ``latest.json`` and ``latest.png``, print a short summary."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.max_seconds)
    try:
        report = run(args)
    except BenchmarkTimeout:
        print(f"benchmark: gave up after --max-seconds {args.max_seconds}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    json_path = args.output_dir / "latest.json"
    png_path = args.output_dir / "latest.png"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    write_plot(report, png_path)
    for name, line in report["targets"].items():
        verdict = "PASS" if line["pass"] else "FAIL"
        print(f"{verdict}  {name}: {line['value']} ({line['comparison']} {line['limit']:g})")
    print(f"wrote {json_path} and {png_path} in {report['seconds']} s")
    failed = failed_requests(report)
    if failed:
        print(f"benchmark invalid: {failed} request(s) did not get a 200", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
