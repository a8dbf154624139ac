"""Run the real ``gateway serve`` (gunicorn master + uvicorn workers) as a subprocess for tests.

The master gets a clean ``GATEWAY_*`` environment plus what the test passes, binds a free
loopback port, and is always stopped (SIGTERM, then SIGKILL) when the context exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.servers import free_port


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


@dataclass
class GunicornGateway:
    """A running gunicorn master serving the gateway."""

    url: str
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]

    def worker_pids(self) -> set[int]:
        """The live worker processes."""
        return _children(self.process.pid)

    def wait_for_workers(
        self, count: int, timeout: float = 60.0, exclude: int | None = None
    ) -> set[int]:
        """Wait until ``count`` workers run (none of them ``exclude``) and the port answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and exclude not in pids and self._answers():
                return pids
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not reach {count} workers; its log:\n{self.log()}")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        """What the master and its workers wrote so far."""
        self.log_file.flush()
        self.log_file.seek(0)
        return self.log_file.read().decode("utf-8", "replace")


@contextmanager
def running_gunicorn(env: Mapping[str, str], *, workers: int) -> Iterator[GunicornGateway]:
    """Start ``python -m gateway serve`` with ``workers`` workers and the given environment."""
    port = free_port()
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY")
    }
    child_env.update({"GATEWAY_LOG_LEVEL": "WARNING", **env})
    command = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(
            command, env=child_env, stdout=log_file, stderr=subprocess.STDOUT
        )
        gateway = GunicornGateway(f"http://127.0.0.1:{port}", process, log_file)
        try:
            gateway.wait_for_workers(workers)
            yield gateway
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
