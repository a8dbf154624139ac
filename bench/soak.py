"""Soak: failed requests and worker memory under continuous keep-alive load.

Starts the fake Ollama and ``gateway serve --workers N`` (gunicorn + uvicorn workers, the packaged
config) on free 127.0.0.1 ports, runs ``tests/support/load.py`` (keep-alive clients sending chats
and streams, nothing retried) for ``--seconds``, and samples the resident memory of every worker
every ``--sample-every`` seconds. Prints one JSON report: requests sent, answered and failed (by
cause), worker recycles, and the memory samples. It measured README "Worker recycling":

    .venv/bin/python bench/soak.py --seconds 120 --max-requests 500       # failed requests
    .venv/bin/python bench/soak.py --seconds 120 --reload-every 20        # SIGHUP reloads
    .venv/bin/python bench/soak.py --seconds 1800 --max-requests 0        # memory, no recycling

``--worker-class uvicorn_worker.UvicornWorker`` runs uvicorn's stock worker instead of the
gateway's (the "before" of README "Worker recycling").

Exit status 0 when no request failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.gunicorn import GunicornGateway, running_gunicorn  # noqa: E402
from tests.support.load import Load  # noqa: E402

from fake_ollama.testing import FakeOllamaProcess  # noqa: E402

API_KEY = "sk-soak-0123456789abcdef0123456789abcdef"


def rss_mib(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (None when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def sample(gateway: GunicornGateway, load: Load, started: float) -> dict[str, Any]:
    """One memory sample: elapsed seconds, answered requests, RSS per worker."""
    workers = {pid: rss_mib(pid) for pid in sorted(gateway.worker_pids())}
    return {
        "seconds": round(time.monotonic() - started, 1),
        "answered": load.result.answered,
        "worker_rss_mib": {str(pid): rss for pid, rss in workers.items() if rss is not None},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--stream-every", type=int, default=4, help="every Nth request streams")
    parser.add_argument(
        "--max-requests", type=int, default=0, help="GUNICORN_MAX_REQUESTS (0: no recycling)"
    )
    parser.add_argument("--jitter", type=int, default=None, help="default: a tenth of the above")
    parser.add_argument("--sample-every", type=float, default=15.0, help="memory sample period")
    parser.add_argument(
        "--reload-every", type=float, default=0.0, help="SIGHUP the master this often (0: never)"
    )
    parser.add_argument(
        "--worker-class", default="", help="another gunicorn worker class (default: the gateway's)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 24 * 3600 or min(args.workers, args.clients) < 1:
        parser.error("--seconds between 1 and 86400, --workers and --clients >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its JSON report."""
    args = parse_args(argv)
    jitter = args.max_requests // 10 if args.jitter is None else args.jitter
    env = {
        "GATEWAY_API_KEYS": API_KEY,
        "GATEWAY_DEFAULT_RPM": "0",
        "GATEWAY_DEFAULT_TPM": "0",
        "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
        "GATEWAY_AUTH_FAILURE_LIMIT": "0",
        "GUNICORN_MAX_REQUESTS": str(args.max_requests),
        "GUNICORN_MAX_REQUESTS_JITTER": str(jitter),
    }
    if args.worker_class:
        env["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class}"
    samples: list[dict[str, Any]] = []
    with FakeOllamaProcess(args=["--quiet"]) as fake:
        env["GATEWAY_OLLAMA_URL"] = fake.url
        with running_gunicorn(env, workers=args.workers) as gateway:
            load = Load(gateway.url, API_KEY, clients=args.clients, stream_every=args.stream_every)
            started = time.monotonic()
            load.start()
            next_sample = started
            reloads = 0
            next_reload = started + args.reload_every if args.reload_every else float("inf")
            while (now := time.monotonic()) < started + args.seconds:
                if now >= next_sample:
                    samples.append(sample(gateway, load, started))
                    next_sample += args.sample_every
                if now >= next_reload:
                    gateway.process.send_signal(signal.SIGHUP)
                    reloads += 1
                    next_reload += args.reload_every
                time.sleep(min(1.0, max(0.0, started + args.seconds - now)))
            samples.append(sample(gateway, load, started))
            result = load.stop()
            log = gateway.log()
    report = {
        "workers": args.workers,
        "clients": args.clients,
        "max_requests": args.max_requests,
        "max_requests_jitter": jitter,
        "seconds": round(result.seconds, 1),
        "sent": result.sent,
        "answered": result.answered,
        "streams_answered": result.streams_answered,
        "failed": result.failed,
        "failures": dict(result.failures),
        "worker_class": args.worker_class or "gateway.serving.worker.GatewayWorker",
        "reloads": reloads,
        "worker_recycles": log.count("Maximum request limit"),
        "workers_booted": log.count("Booting worker"),
        "memory": samples,
    }
    print(json.dumps(report, indent=1))
    print(result.summary(), file=sys.stderr)
    return 0 if result.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
