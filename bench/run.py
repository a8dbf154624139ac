"""``make bench``: what the gateway costs, measured against a lean proxy in the same run.

Starts the fake Ollama, ``gateway serve --workers 1`` (keys, rate limiting, metrics and access log
on; limits far above the load) and the lean reference proxy of ``bench/reference_proxy.py`` (one
uvicorn worker, translation only) on free 127.0.0.1 ports. For each answer length
(``--answer-tokens``, default 64 and 256 content tokens) it measures, for the fake directly, the
reference and the gateway alike:

1. non-streaming chat at 1 and 16 concurrent clients: latency percentiles, what each proxy adds
   to the fake's own p50, requests per second, CPU milliseconds per request
   (``bench/latency.py`` does the work);
2. streaming chat (``bench/streaming.py``): time to the first token, streams per second and the
   rate at which chunks are relayed;
3. memory: the resident set of the gateway worker before and after all of that.

The targets are ratios ``gateway ÷ reference`` from the same run, which stay comparable across
machines (absolute numbers follow the machine and its load). Writes ``bench/results/latest.json``
(machine, git commit, time, every number, a verdict per target) and ``bench/results/latest.png``
(the ratios against their targets). Exits 0 when the benchmark ran, whatever the verdicts; 1 when
it could not run (or requests failed).

    .venv/bin/python bench/run.py [--requests 3000] [--answer-tokens 64 256] [--max-seconds 900]
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

from latency import API_KEY, MESSAGES, gateway_serve, http_request, measure, reference_serve
from plot import write_plot
from streaming import NDJSON, SSE, drive_streams

from fake_ollama.testing import FakeOllamaProcess, free_port

RESULTS = Path(__file__).resolve().parent / "results"
BODY = {"model": "gpt-oss:20b", "messages": MESSAGES}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: Issue #16: the whole gateway, everything on, one worker, against the lean reference.
ADDED_LATENCY_RATIO_LIMIT = 1.3
THROUGHPUT_RATIO_TARGET = 0.8
WORKER_RSS_LIMIT_MB = 120.0
#: A reference that adds less than this (ms) is taken as adding this much: below it the ratio of
#: two near-zero differences would be noise.
ADDED_FLOOR_MS = 0.05
SIDES = ("direct", "reference", "gateway")


class BenchmarkTimeout(KeyboardInterrupt):
    """The whole run took longer than ``--max-seconds``.

    Raised from the ``SIGALRM`` handler, which may run inside an asyncio callback: the event loop
    re-raises only ``KeyboardInterrupt``/``SystemExit`` from there (anything else is logged and
    swallowed), so an interruption is what reliably ends the run and its servers.
    """


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (every one bounded, with defaults that fit in a few minutes)."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16], help="concurrent clients per run"
    )
    parser.add_argument(
        "--answer-tokens", type=int, nargs="+", default=[64, 256], help="content tokens per answer"
    )
    parser.add_argument("--streams", type=int, default=300, help="streamed answers per side")
    parser.add_argument("--max-seconds", type=int, default=900, help="give up after this long")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args(argv)
    counts = (args.requests, args.warmup, args.streams, *args.answer_tokens, *args.concurrency)
    if min(counts) < 1 or not 10 <= args.max_seconds <= 3600:
        parser.error("counts, tokens and concurrency must be >= 1, --max-seconds 10 to 3600")
    return args


class Targets:
    """The three servers of a run: the fake Ollama and the two proxies in front of it."""

    def __init__(
        self, fake: FakeOllamaProcess, gateway: tuple[int, int], reference: tuple[int, int]
    ):
        self.fake = fake
        self.ports = {"direct": fake.port, "gateway": gateway[0], "reference": reference[0]}
        self.pids = {"direct": fake.pid, "gateway": gateway[1], "reference": reference[1]}

    def request(self, side: str, *, stream: bool) -> bytes:
        """The bytes of one chat request to ``side`` (Ollama's API directly, else OpenAI's)."""
        if side == "direct":
            return http_request("/api/chat", {**BODY, "stream": stream}, self.ports[side], {})
        body = {**BODY, "stream": True} if stream else BODY
        return http_request("/v1/chat/completions", body, self.ports[side], AUTH)


def ratio(gateway: float, reference: float) -> float:
    """``gateway ÷ reference``, rounded for the report."""
    return round(gateway / reference, 3)


def non_streaming(targets: Targets, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Latency, throughput and CPU per request of each side, at each concurrency."""
    runs = []
    for concurrency in args.concurrency:
        load = argparse.Namespace(
            requests=args.requests, warmup=args.warmup, concurrency=concurrency
        )
        run: dict[str, Any] = {"concurrency": concurrency}
        for side in SIDES:
            request = targets.request(side, stream=False)
            run[side] = measure(targets.ports[side], request, load, {side: targets.pids[side]})
        added = {
            side: round(run[side]["p50_ms"] - run["direct"]["p50_ms"], 3)
            for side in ("reference", "gateway")
        }
        run["added_p50_ms"] = added
        run["ratios"] = {
            "added_p50": ratio(added["gateway"], max(added["reference"], ADDED_FLOOR_MS)),
            "req_per_s": ratio(run["gateway"]["req_per_s"], run["reference"]["req_per_s"]),
        }
        runs.append(run)
    return runs


def streaming(targets: Targets, args: argparse.Namespace) -> dict[str, Any]:
    """Time to the first token, streams per second and chunk relay rate of each side."""
    result: dict[str, Any] = {}
    for side in SIDES:
        request = targets.request(side, stream=True)
        wire = NDJSON if side == "direct" else SSE
        port = targets.ports[side]
        asyncio.run(drive_streams(port, request, min(args.streams, 20), wire))  # warm-up
        result[side] = asyncio.run(drive_streams(port, request, args.streams, wire))
    added = {
        side: round(result[side]["first_token_p50_ms"] - result["direct"]["first_token_p50_ms"], 3)
        for side in ("reference", "gateway")
    }
    result["added_first_token_p50_ms"] = added
    result["ratios"] = {
        "added_first_token_p50": ratio(added["gateway"], max(added["reference"], ADDED_FLOOR_MS)),
        "streams_per_s": ratio(
            result["gateway"]["streams_per_s"], result["reference"]["streams_per_s"]
        ),
        "chunks_per_s": ratio(
            result["gateway"]["chunks_per_s"], result["reference"]["chunks_per_s"]
        ),
    }
    return result


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


def verdicts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every target of issue #16, for every answer length measured."""
    lines: dict[str, dict[str, Any]] = {}
    for point in report["points"]:
        tokens = point["answer_tokens"]
        for run in point["non_streaming"]:
            clients = run["concurrency"]
            if clients == 1:
                lines[f"added_p50_ratio_{tokens}t"] = target(
                    f"p50 added, non-streaming, 1 client, {tokens} tokens: gateway / reference",
                    run["ratios"]["added_p50"],
                    ADDED_LATENCY_RATIO_LIMIT,
                    at_most=True,
                )
            lines[f"req_per_s_ratio_{tokens}t_{clients}c"] = target(
                f"requests/s, non-streaming, {clients} client(s), {tokens} tokens: "
                "gateway / reference",
                run["ratios"]["req_per_s"],
                THROUGHPUT_RATIO_TARGET,
                at_most=False,
            )
        stream = point["streaming"]["ratios"]
        lines[f"first_token_ratio_{tokens}t"] = target(
            f"time to first token added, p50, {tokens} tokens: gateway / reference",
            stream["added_first_token_p50"],
            ADDED_LATENCY_RATIO_LIMIT,
            at_most=True,
        )
        lines[f"chunks_per_s_ratio_{tokens}t"] = target(
            f"streamed chunks/s, {tokens} tokens: gateway / reference",
            stream["chunks_per_s"],
            THROUGHPUT_RATIO_TARGET,
            at_most=False,
        )
    lines["worker_rss_mb"] = target(
        "gateway worker resident set after the run, MB",
        report["memory"]["gateway_worker_rss_after_mb"],
        WORKER_RSS_LIMIT_MB,
        at_most=True,
    )
    return lines


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the fake, the gateway and the reference, measure everything, return the report."""
    report: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": machine(),
        "settings": {**vars(args), "output_dir": str(args.output_dir), "gateway_workers": 1},
        "points": [],
    }
    started = time.monotonic()
    with FakeOllamaProcess(args=["--quiet"]) as fake:
        gateway_port, reference_port = free_port(), free_port()
        with (
            gateway_serve(fake.url, gateway_port) as worker,
            reference_serve(fake.url, reference_port) as reference,
        ):
            targets = Targets(fake, (gateway_port, worker), (reference_port, reference))
            memory_start = rss_mb(worker)
            for tokens in args.answer_tokens:
                fake.configure(content_tokens=tokens)
                report["points"].append(
                    {
                        "answer_tokens": tokens,
                        "non_streaming": non_streaming(targets, args),
                        "streaming": streaming(targets, args),
                    }
                )
            memory_end = rss_mb(worker)
            reference_memory = rss_mb(reference)
    report["memory"] = {
        "gateway_worker_rss_start_mb": memory_start["rss_mb"],
        "gateway_worker_rss_after_mb": memory_end["rss_mb"],
        "gateway_worker_rss_peak_mb": memory_end["peak_mb"],
        "reference_rss_after_mb": reference_memory["rss_mb"],
    }
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.monotonic() - started, 1)
    report["targets"] = verdicts(report)
    report["passed"] = all(t["pass"] for t in report["targets"].values())
    return report


def failed_requests(report: dict[str, Any]) -> int:
    """How many measured requests did not get a 200 (the numbers mean nothing if any did)."""
    runs = []
    for point in report["points"]:
        runs += [run[side] for run in point["non_streaming"] for side in SIDES]
        runs += [point["streaming"][side] for side in SIDES]
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
