"""The gateway's gunicorn worker: ``uvicorn_worker.UvicornWorker`` that leaves without failing a
request (``worker_class = "gateway.serving.worker.GatewayWorker"``).

When it leaves (``SIGTERM`` from the master on stop or reload, or ``max_requests`` reached) its
server:

1. tells the master it is leaving (:func:`gateway.serving.arbiter.mark_leaving`), so that a
   worker leaving on its own is replaced at once;
2. stops accepting connections (the listening socket stays open in the master and the other
   workers: nothing queued on it is lost);
3. drains its connections as :mod:`gateway.serving.protocol` describes, for at most
   ``graceful_timeout`` seconds, and keeps beating the master's heartbeat meanwhile (the master
   kills a worker that is silent for ``timeout`` seconds);
4. runs the app's shutdown (closes its clients) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from gateway.serving.arbiter import mark_leaving
from gateway.serving.protocol import DrainingHttpToolsProtocol, DrainingState

logger = logging.getLogger("uvicorn.error")

HEARTBEAT_SECONDS = 1.0
"""How often a draining worker tells the master it is alive."""
CLEANUP_SECONDS = 2
"""Of ``graceful_timeout``, what is kept for the app's own shutdown after draining."""


class DrainingServer(Server):
    """uvicorn's server whose shutdown drains connections instead of closing idle ones."""

    def __init__(self, config: Config, on_leave: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.server_state: DrainingState = DrainingState()
        self.on_leave = on_leave

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Leave as the module docstring says; uvicorn's own shutdown does the waiting."""
        self.server_state.draining = True
        if self.on_leave is not None:
            self.on_leave()
        logger.info(
            "Leaving: %d connection(s) to drain, %d request(s) in flight",
            len(self.server_state.connections),
            len(self.server_state.tasks),
        )
        heartbeat = asyncio.create_task(self._heartbeat(self.config.callback_notify))
        try:
            await super().shutdown(sockets)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    @staticmethod
    async def _heartbeat(notify: Callable[[], Awaitable[None]] | None) -> None:
        """Keep the master's heartbeat going while the connections drain."""
        if notify is None:
            return
        while True:
            await notify()
            await asyncio.sleep(HEARTBEAT_SECONDS)


class GatewayWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn and uvicorn-worker are untyped
    """uvicorn worker (httptools, uvloop when installed) whose server drains when it leaves."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": DrainingHttpToolsProtocol}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bound the drain by what the master allows a leaving worker (it then kills it).
        self.config.timeout_graceful_shutdown = max(
            1, int(self.cfg.graceful_timeout) - CLEANUP_SECONDS
        )

    def leave(self) -> None:
        """Tell the master this worker is leaving (see :mod:`gateway.serving.arbiter`)."""
        mark_leaving(self.tmp.fileno())

    async def _serve(self) -> None:
        """``UvicornWorker._serve`` with :class:`DrainingServer`."""
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config, on_leave=self.leave)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
