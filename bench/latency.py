"""Latency the gateway adds: non-streaming chat via ``gateway serve`` vs the fake Ollama directly.

Starts the fake Ollama and ``gateway serve --workers 1`` (gunicorn + one uvicorn worker, auth,
rate limiting, metrics and access log on, limits far above the load) on free 127.0.0.1 ports, then
drives each target with the same load: ``--concurrency`` keep-alive connections sending
``--requests`` requests in total (after ``--warmup``), each waiting for the whole answer.

* direct:  ``POST /api/chat`` with ``"stream": false`` on the fake
* gateway: ``POST /v1/chat/completions`` (no ``stream``) on the gateway, which streams the same
  answer from the fake and returns one ``chat.completion``

The load generator is a minimal asyncio HTTP/1.1 client (not httpx) so that it costs the shared
CPUs as little as possible. Prints a JSON summary (milliseconds); ``--output`` also writes it.

    .venv/bin/python bench/latency.py [--requests 3000] [--concurrency 16] [--warmup 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fake_ollama.testing import FakeOllamaProcess, free_port

HOST = "127.0.0.1"
API_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hi"}]


def http_request(path: str, body: dict[str, Any], port: int, headers: dict[str, str]) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 POST with a JSON body."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole response (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def drive(port: int, request: bytes, total: int, concurrency: int) -> dict[str, Any]:
    """Send ``total`` requests over ``concurrency`` connections; latency stats in ms."""
    latencies: list[int] = []
    errors = 0
    remaining = total

    async def connection() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter_ns()
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter_ns() - started)
                errors += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return summary(latencies, errors, elapsed)


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanosecond values, in milliseconds."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return round(ordered[rank - 1] / 1e6, 3)


def summary(latencies: list[int], errors: int, elapsed: float) -> dict[str, Any]:
    """Percentiles, mean and throughput of one run."""
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors,
        "p50_ms": percentile(ordered, 0.50),
        "p90_ms": percentile(ordered, 0.90),
        "p99_ms": percentile(ordered, 0.99),
        "mean_ms": round(sum(ordered) / len(ordered) / 1e6, 3),
        "req_per_s": round(len(ordered) / elapsed, 1),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def measure(
    port: int, request: bytes, args: argparse.Namespace, cpu_of: dict[str, int]
) -> dict[str, Any]:
    """Warm up, then measure one target, with the CPU time each ``cpu_of`` process spent.

    CPU per request does not depend on what else runs on the machine, unlike latency.
    """
    asyncio.run(drive(port, request, args.warmup, args.concurrency))
    before = {name: cpu_seconds(pid) for name, pid in cpu_of.items()}
    result = asyncio.run(drive(port, request, args.requests, args.concurrency))
    for name, pid in cpu_of.items():
        spent = cpu_seconds(pid) - before[name]
        result[f"{name}_cpu_ms_per_request"] = round(spent * 1000 / args.requests, 3)
    return result


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200 (raises after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:g} s")


@contextmanager
def serving(command: list[str], env: dict[str, str], health_url: str) -> Iterator[int]:
    """Run ``command`` until the block ends, once ``health_url`` answers 200; yield its pid.

    The process is stopped with SIGTERM (then killed) however the block ends; if it never came
    up, the end of its output goes to stderr.
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            wait_until_up(health_url)
            yield process.pid
        except RuntimeError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


@contextmanager
def gateway_serve(ollama_url: str, port: int) -> Iterator[int]:
    """``gateway serve --workers 1`` on ``port`` in front of ``ollama_url``; yields the worker pid.

    Everything on: key check, rate limiting (memory storage, limits far above the load, so every
    request is counted and none refused), metrics and the access log.
    """
    env = {
        **os.environ,
        "GATEWAY_OLLAMA_URL": ollama_url,
        "GATEWAY_API_KEYS": API_KEY,
        "GATEWAY_DEFAULT_RPM": "100000000",
        "GATEWAY_DEFAULT_TPM": "100000000000",
        "GATEWAY_DEFAULT_MAX_CONCURRENT": "10000",
    }
    command = [
        str(Path(sys.executable).with_name("gateway")),
        *("serve", "--host", HOST, "--port", str(port), "--workers", "1"),
    ]
    with serving(command, env, f"http://{HOST}:{port}/health/live") as master:
        [worker] = children(master)
        yield worker


@contextmanager
def reference_serve(ollama_url: str, port: int) -> Iterator[int]:
    """``bench/reference_proxy.py`` (one uvicorn worker) on ``port``; yields its pid."""
    script = Path(__file__).resolve().with_name("reference_proxy.py")
    command = [sys.executable, str(script), "--port", str(port), "--ollama-url", ollama_url]
    with serving(command, dict(os.environ), f"http://{HOST}:{port}/health") as pid:
        yield pid


def main() -> int:
    """Run the benchmark and print (and optionally write) the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per target")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections")
    parser.add_argument("--output", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()

    body = {"model": "gpt-oss:20b", "messages": MESSAGES}
    with FakeOllamaProcess(args=["--quiet"]) as fake:
        direct = http_request("/api/chat", {**body, "stream": False}, fake.port, {})
        result_direct = measure(fake.port, direct, args, {"fake": fake.pid})
        port = free_port()
        with gateway_serve(fake.url, port) as worker:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            through = http_request("/v1/chat/completions", body, port, headers)
            result_gateway = measure(port, through, args, {"gateway": worker, "fake": fake.pid})

    report = {
        "what": "non-streaming chat, gateway (gunicorn, 1 uvicorn worker) vs fake Ollama directly",
        "concurrency": args.concurrency,
        "requests_per_target": args.requests,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "direct": result_direct,
        "gateway": result_gateway,
        "added_ms": {
            "p50": round(result_gateway["p50_ms"] - result_direct["p50_ms"], 3),
            "p99": round(result_gateway["p99_ms"] - result_direct["p99_ms"], 3),
        },
        "gateway_worker_max_req_per_s": round(1000 / result_gateway["gateway_cpu_ms_per_request"]),
        "load_average": os.getloadavg(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0 if result_direct["errors"] == result_gateway["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
