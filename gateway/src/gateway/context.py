"""Per-request context: the request id and what the access log and metrics report at the end.

One :class:`RequestContext` is created by :class:`gateway.middleware.RequestContextMiddleware`
for each HTTP request, stored in ``scope["state"]["ctx"]`` (``request.state.ctx`` in handlers) and
in a context variable so that every log line carries the request id. Handlers fill in the model,
token counts and outcome; auth fills in the key; the middleware fills in status and route.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

# Outcomes are a small fixed set (they become metric label values).
OK = "ok"
CLIENT_DISCONNECT = "client_disconnect"
UPSTREAM_ERROR = "upstream_error"
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
AUTH_FAILED = "auth_failed"
INVALID = "invalid_request"
ERROR = "error"


@dataclass(slots=True)
class RequestContext:
    """What is known about one request; mutated as it travels through the gateway."""

    request_id: str
    method: str
    path: str
    client_ip: str | None
    started: float = field(default_factory=perf_counter)
    route: str | None = None
    status: int = 0
    model: str | None = None
    stream: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # Reasoning tokens, approximate (Output.reasoning_tokens; part of completion_tokens).
    reasoning_tokens: int | None = None
    outcome: str | None = None
    key_id: str | None = None
    key_name: str | None = None
    # Set by auth (gateway.access.guard) for gateway.access.rights: admin flag, models the key may
    # use (normalised Ollama names; None: every model).
    key_admin: bool = False
    key_models: frozenset[str] | None = None
    # Generation timings for metrics (filled by the services from Ollama's stream).
    first_token_seconds: float | None = None
    eval_duration_ns: int | None = None
    load_duration_ns: int | None = None
    upstream_seconds: float | None = None
    # Seconds the request waited for a generation slot (admission control; None: not queued).
    queued_seconds: float | None = None
    # Why a request failed, for metrics: the GatewayError code, the auth failure reason and the
    # rate limit that was hit (small fixed vocabularies chosen by the code that rejects).
    error_code: str | None = None
    auth_failure_reason: str | None = None
    limit_hit: str | None = None
    # Headers a service adds to the answer (sent by the request-context middleware).
    response_headers: dict[str, str] = field(default_factory=dict)

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return perf_counter() - self.started

    def record_usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Remember the token counts reported by Ollama (for logs, metrics and token limits)."""
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens

    def mark_first_token(self) -> None:
        """Note the time to the first generated token (only the first call counts)."""
        if self.first_token_seconds is None:
            self.first_token_seconds = self.elapsed()

    def record_final_chunk(self, chunk: dict[str, Any]) -> None:
        """Take usage and timings from Ollama's final (``done: true``) chunk or JSON answer."""
        self.record_usage(chunk.get("prompt_eval_count", 0), chunk.get("eval_count", 0))
        self.eval_duration_ns = chunk.get("eval_duration")
        self.load_duration_ns = chunk.get("load_duration")

    def add_upstream_time(self, seconds: float) -> None:
        """Add the wall time of one call to Ollama (a request may make several)."""
        self.upstream_seconds = (self.upstream_seconds or 0.0) + seconds

    def add_response_header(self, name: str, value: str) -> None:
        """Send ``name: value`` with the answer (set before the answer starts)."""
        self.response_headers[name] = value

    def record_error(self, status: int, code: str | None) -> None:
        """Note the error answered (status and code); the outcome follows from the status."""
        self.error_code = code
        if self.outcome is None:
            self.outcome = outcome_for_status(status)


def outcome_for_status(status: int) -> str:
    """The outcome of a request that ended with ``status`` (when no code chose one before)."""
    if status < 400:
        return OK
    return _OUTCOME_BY_STATUS.get(status, INVALID if status < 500 else ERROR)


_OUTCOME_BY_STATUS = {
    401: AUTH_FAILED,
    403: AUTH_FAILED,
    429: RATE_LIMITED,
    499: CLIENT_DISCONNECT,
    502: UPSTREAM_ERROR,
    503: UPSTREAM_ERROR,
    504: TIMEOUT,
}


_current: ContextVar[RequestContext | None] = ContextVar("gateway_request", default=None)


def current_request() -> RequestContext | None:
    """The context of the request being served by this task, if any."""
    return _current.get()


def bind(ctx: RequestContext) -> None:
    """Make ``ctx`` the current request for this task (and tasks it spawns)."""
    _current.set(ctx)


def context_of(scope: dict[str, Any] | Any) -> RequestContext | None:
    """The context stored in an ASGI scope by the request-context middleware."""
    state = scope.get("state") if isinstance(scope, dict) else None
    ctx = state.get("ctx") if isinstance(state, dict) else None
    return ctx if isinstance(ctx, RequestContext) else None


def accept_or_mint_request_id(inbound: str | None) -> str:
    """Keep a well-formed inbound ``X-Request-ID`` (<= 128 safe characters), else mint one."""
    if inbound and _VALID_REQUEST_ID.fullmatch(inbound):
        return inbound
    return secrets.token_hex(16)  # 32 random hex digits (cheaper than uuid4().hex)
