"""uvicorn's HTTP protocol (httptools), except in how a leaving server treats its connections.

uvicorn's own ``shutdown()`` closes every idle keep-alive connection at once. A client may have
sent a request on such a connection a moment before (nginx picks an idle upstream connection and
writes at once): that request is lost, and nginx answers 502 because it never resends a POST.
Nothing in HTTP/1.1 can tell a client "do not use this idle connection any more"; only a response
can carry ``Connection: close``. So a leaving server here:

- lets a request in flight finish; its response says ``Connection: close`` unless its headers
  were sent already (then the connection stays open and is treated as idle once it completes);
- answers every request that arrives on a kept-alive connection from then on, with
  ``Connection: close``, and closes the connection after that response;
- closes no idle connection early: an idle connection is closed by the client, or by the usual
  keep-alive timeout (``GUNICORN_KEEPALIVE``), which is longer than the client's own (nginx's
  upstream ``keepalive_timeout``), so the client has always given it up first.

The server flags itself as leaving through :class:`DrainingState` (shared by its connections);
connections accepted after that moment get the same treatment.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


class DrainingState(ServerState):
    """uvicorn's server state plus whether the server is leaving."""

    def __init__(self) -> None:
        super().__init__()
        self.draining = False


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 protocol whose graceful shutdown never closes a connection under a
    request the client already sent (see the module docstring)."""

    @property
    def draining(self) -> bool:
        """Whether the server is leaving."""
        return bool(getattr(self.server_state, "draining", False))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A connection accepted while leaving is idle-timed from its first byte on."""
        super().connection_made(transport)
        if self.draining:
            self._arm_idle_timeout()

    def on_headers_complete(self) -> None:
        """A request that arrives while the server leaves is answered with ``Connection: close``."""
        super().on_headers_complete()
        cycle = self.cycle
        if self.draining and cycle is not None and not cycle.response_started:
            cycle.keep_alive = False

    def shutdown(self) -> None:
        """Called by the server once when it starts leaving (instead of closing idle ones)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.response_started:
                cycle.keep_alive = False  # its headers will say Connection: close
            # A response under way ends as it began; the connection then idles (below).
            return
        self._arm_idle_timeout()

    def _arm_idle_timeout(self) -> None:
        """Close the connection after the keep-alive timeout unless a request arrives first.

        An idle connection already has that timer running since its last response; one that has
        not carried a request yet does not, and gets it here.
        """
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
