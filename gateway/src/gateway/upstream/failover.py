"""Sending a request again to another Ollama backend, only while nothing reached the client.

A generation goes to the backend the router picks. If that backend refuses the connection,
breaks it before answering, is overloaded (its queue in the gateway is full, or Ollama answers
503 "server busy") or answers another 5xx, the same request goes to another backend: at most
:data:`MAX_ATTEMPTS` distinct ones. That is safe because the response has not started: callers
read Ollama's first object before they send anything. After that, a failure ends the answer with
an error (an SSE error event, an NDJSON error line): text already shown is never sent twice.

What is counted against a backend (see :mod:`gateway.upstream.backends`): a refused connection
(ejects it at once), a connection broken before the answer, a 5xx other than "busy" and other
than a capability refusal. Never: "busy", a full queue, 4xx answers, a client that left,
a first-byte timeout (a model that loads slowly is not a sick server).

Read-only calls (``/api/tags``, ``/api/show``...) go through :class:`AnyBackendTransport`: the
least busy backend that is in, the next one when a connection is refused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import orjson

from gateway.errors import GatewayError, ServerOverloaded, ServiceUnavailable
from gateway.observability import backend_metrics
from gateway.upstream.backends import Backend
from gateway.upstream.capabilities import missing_capability
from gateway.upstream.router import Router

log = logging.getLogger("gateway.failover")

MAX_ATTEMPTS = 3
"""Distinct backends one request may be sent to."""
BUSY_STATUS = 503
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)

Opener = Callable[[Backend], AbstractAsyncContextManager[httpx.Response]]


@dataclass(frozen=True, slots=True)
class Routed:
    """The backend that answered, its response (headers in), the seconds spent queued."""

    backend: Backend
    response: httpx.Response
    waited: float | None


def _message(raw: bytes) -> str:
    """Ollama's ``{"error": ...}`` text, or the raw body."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return raw.decode(errors="replace")


def _buffered(response: httpx.Response, raw: bytes) -> httpx.Response:
    """``response`` with its body already read (it can still be read or relayed once more)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("content-type",)}
    return httpx.Response(response.status_code, headers=headers, content=raw)


class Attempts:
    """The attempts of one request over the backends: which were tried, why each one failed."""

    def __init__(self, router: Router, model: str | None) -> None:
        self.router = router
        self.model = model
        self.tried: list[Backend] = []

    def next_backend(self) -> Backend | None:
        """The next backend to try (None when every allowed attempt was made)."""
        if len(self.tried) >= MAX_ATTEMPTS:
            return None
        backend = self.router.pick(self.model, avoid=self.tried)
        if backend is not None:
            self.tried.append(backend)
        return backend

    @property
    def last(self) -> bool:
        """True when no other backend is left for another attempt."""
        return len(self.tried) >= MAX_ATTEMPTS or not self.router.candidates(self.tried)

    def opening_failed(self, backend: Backend, error: GatewayError) -> bool:
        """Judge a failure before Ollama answered; True when another backend should be tried."""
        cause = error.__cause__
        if isinstance(error, ServerOverloaded) or error.code == "server_busy":
            outcome, reason = "busy", "overloaded"
        elif isinstance(cause, CONNECT_ERRORS):
            self.router.refused(backend)
            outcome, reason = "failed", "refused"
        elif isinstance(error, ServiceUnavailable) and isinstance(cause, httpx.TransportError):
            self.router.server_error(backend, "broken_connection")
            outcome, reason = "failed", "broken_connection"
        else:  # a first-byte timeout: the model may be loading; not the backend's fault
            backend_metrics.REQUESTS.labels(backend.name, "timeout").inc()
            return False
        backend_metrics.REQUESTS.labels(backend.name, outcome).inc()
        return self._again(backend, reason)

    def answered(self, backend: Backend, status: int, raw: bytes | None) -> bool:
        """Judge Ollama's status (and error body for a 5xx); True when another backend should
        be tried. ``raw`` is None when the body was not read (no other attempt is possible)."""
        if status < 500:
            backend.succeeded()
            outcome = "ok" if status < 400 else "client_error"
            backend_metrics.REQUESTS.labels(backend.name, outcome).inc()
            return False
        message = _message(raw) if raw is not None else ""
        if status == BUSY_STATUS:
            backend.busy()
            backend_metrics.REQUESTS.labels(backend.name, "busy").inc()
            return self._again(backend, "busy")
        if missing_capability(message):  # the model cannot do it, on any backend
            backend_metrics.REQUESTS.labels(backend.name, "client_error").inc()
            return False
        self.router.server_error(backend, f"status_{status}")
        backend_metrics.REQUESTS.labels(backend.name, "failed").inc()
        return self._again(backend, f"status_{status}")

    def _again(self, backend: Backend, reason: str) -> bool:
        if self.last:
            return False
        backend_metrics.RETRIES.labels(reason).inc()
        log.warning(
            "Ollama backend failed before answering; trying another one",
            extra={"backend": backend.name, "reason": reason},
        )
        return True


@asynccontextmanager
async def routed(
    router: Router,
    open_on: Opener,
    *,
    model: str | None,
    queue_key: str | None = None,
    admitted: Callable[[float | None], None] | None = None,
) -> AsyncIterator[Routed]:
    """Open a generation on a backend, and on others while it fails before its answer started.

    ``open_on(backend)`` opens it (raising :class:`GatewayError` when that fails). Each attempt
    counts as in flight on its backend and first waits for one of the backend's slots (admission
    control); ``admitted`` is told the seconds each attempt queued. Yields the first acceptable
    answer (or the last one); the backend's slot and count are held until the block exits.
    """
    attempts = Attempts(router, model)
    while (claim := await router.claim(model, attempts.tried)) is not None:
        backend = claim.backend
        attempts.tried.append(backend)
        stack = AsyncExitStack()
        stack.callback(router.release, claim)
        try:
            waited: float | None = None
            if backend.admission is not None:
                waited = await stack.enter_async_context(
                    backend.admission.slot(queue_key or "anonymous")
                )
            if admitted is not None:
                admitted(waited)
            response = await stack.enter_async_context(open_on(backend))
            raw = None
            if response.status_code >= 500 and not attempts.last:
                raw = await response.aread()
                response = _buffered(response, raw)
            again = attempts.answered(backend, response.status_code, raw)
        except GatewayError as error:
            await stack.aclose()
            if not attempts.opening_failed(backend, error):
                raise
            continue
        except BaseException:
            await stack.aclose()
            raise
        if again:
            await stack.aclose()
            continue
        async with stack:
            yield Routed(backend, response, waited)
        return
    raise ServiceUnavailable(  # not reached: the first claim always finds a backend
        "No Ollama backend is configured.",
        retry_after=router.settings.retry_after_seconds,
        code="ollama_unavailable",
    )


class AnyBackendTransport(httpx.AsyncBaseTransport):
    """Sends each request to the least busy backend that is in; to the next one if that refuses
    the connection (nothing was sent yet). The request's host is replaced by the backend's."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request`` to a backend; the last refusal is raised."""
        attempts = Attempts(self.router, None)
        while True:
            backend = attempts.next_backend()
            if backend is None:  # cannot happen: the first pick finds one, `last` ends the loop
                raise httpx.ConnectError("no Ollama backend to send to", request=request)
            # httpx's own merge: a base URL's path (a proxy's prefix) is kept.
            url = backend.http.build_request(request.method, request.url.raw_path.decode()).url
            headers = httpx.Headers(request.headers)
            headers["Host"] = url.netloc.decode("ascii")
            forwarded = httpx.Request(
                request.method,
                url,
                headers=headers,
                stream=request.stream,
                extensions=request.extensions,
            )
            try:
                return await backend.transport.handle_async_request(forwarded)
            except CONNECT_ERRORS:
                self.router.refused(backend)
                if attempts.last:
                    raise
