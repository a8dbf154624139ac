"""Run the app on uvicorn (uvloop + httptools when installed), exiting 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType

import uvicorn

from fake_ollama.app import FakeOllamaApp
from fake_ollama.config import Settings

IDLE_KEEP_ALIVE_SECONDS = 3600


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after a graceful stop (exit code 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            if self.should_exit and signum == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.config.host, self.config.port
            for server in self.servers:
                port = server.sockets[0].getsockname()[1]
            sys.stderr.write(f"fake-ollama listening on http://{host}:{port}\n")
            sys.stderr.flush()


def serve(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; 0 on a clean stop, 1 when start-up failed."""
    config = uvicorn.Config(
        FakeOllamaApp(settings),
        host=host,
        port=port,
        loop="auto",
        http="auto",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        # Ollama (Go's http.Server, no IdleTimeout) keeps idle keep-alive connections open; so
        # does the fake. uvicorn's 5 s default raced the gateway's own 5 s pool expiry: a
        # connection reused just as the fake closed it failed with a ReadError (503).
        timeout_keep_alive=IDLE_KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    server = _Server(config)
    server.run()
    return 0 if server.started else 1
