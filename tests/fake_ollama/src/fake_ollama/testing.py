"""Start the fake as a real subprocess for tests (stdlib only).

    with FakeOllamaProcess(env={"FAKE_OLLAMA_TOKEN_DELAY": "0.01"}) as fake:
        httpx.post(fake.url + "/api/chat", json={...})
        fake.configure(num_parallel=1)
        assert fake.requests(path="/api/chat")[-1]["request_id"] == "abc"

The child gets a clean environment: inherited ``FAKE_OLLAMA_*`` and ``OLLAMA_*`` variables are
dropped so tests are hermetic; pass knobs through ``env`` or ``args``. Its stderr (one line per
request) goes to a temporary file readable with :meth:`FakeOllamaProcess.log`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Self

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class FakeOllamaProcess:
    """A ``python -m fake_ollama`` child process on ``host:port`` (a free port by default)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self._auto_port = port is None
        self.port = port or free_port(host)
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """Process id of the running fake."""
        if self.process is None:
            raise RuntimeError("fake Ollama is not running: call start() first")
        return self.process.pid

    def command(self) -> list[str]:
        """The command line used to start the fake."""
        return [sys.executable, "-m", "fake_ollama", "--host", self.host, "--port", str(self.port)]

    def start(self) -> Self:
        """Start the process and wait until ``GET /`` answers (raises with the log otherwise).

        With an automatically chosen port, a lost race for it is retried on another port.
        """
        for _ in range(3 if self._auto_port else 1):
            if self._launch():
                return self
            log = self.log()
            exited = self.process is not None and self.process.poll() is not None
            self.stop()
            if not (exited and self._auto_port and "address already in use" in log.lower()):
                break
            self.port = free_port(self.host)
        raise RuntimeError(f"fake Ollama did not start on {self.url}; its output:\n{log}")

    def _launch(self) -> bool:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_OLLAMA_", "OLLAMA_"))}
        env.update(self.extra_env)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*self.command(), *self.args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with _OPENER.open(self.url + "/", timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` (then SIGKILL); returns the exit status."""
        status = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            status = self.process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return status

    def log(self) -> str:
        """Everything the fake wrote to stdout/stderr so far."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- admin helpers (``/_fake/*``) -----------------------------------------------------
    def call(self, method: str, path: str, body: object = None) -> Any:
        """JSON request to the fake; returns the decoded JSON answer (raises on HTTP errors)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"{method} {path} -> {exc.code}: {detail}") from None
        return json.loads(raw) if raw.strip() else None

    def configure(self, **knobs: object) -> dict[str, Any]:
        """Change knobs at run time (``POST /_fake/config``); returns all settings."""
        result: dict[str, Any] = self.call("POST", "/_fake/config", knobs)
        return result

    def reset(self) -> None:
        """Start-up settings and models, empty logs (``POST /_fake/reset``)."""
        self.call("POST", "/_fake/reset", {})

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first, optionally only those to ``path``."""
        query = f"?path={path}" if path else ""
        entries: list[dict[str, Any]] = self.call("GET", "/_fake/requests" + query)["requests"]
        return entries

    def cancelled(self) -> list[dict[str, Any]]:
        """Requests whose client disconnected before completion."""
        entries: list[dict[str, Any]] = self.call("GET", "/_fake/cancelled")["cancelled"]
        return entries

    def stats(self) -> dict[str, int]:
        """Generation counts: in flight now, the peak since the last reset, the total."""
        counts: dict[str, int] = self.call("GET", "/_fake/stats")
        return counts
