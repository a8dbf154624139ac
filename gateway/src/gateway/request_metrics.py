"""Metrics recorded once per request, from its finished :class:`RequestContext`.

:class:`MetricsMiddleware` (pure ASGI, outside the request-context middleware) tracks the
in-flight gauge and, when the request is over, hands the context to :class:`RequestMetrics`,
which turns its fields into counter and histogram updates with bounded label values. Endpoint
code never touches a metric: it fills the context (model, tokens, timings, outcome).
"""

from __future__ import annotations

from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import metrics
from gateway.context import (
    AUTH_FAILED,
    RATE_LIMITED,
    TIMEOUT,
    UPSTREAM_ERROR,
    RequestContext,
    context_of,
)
from gateway.settings import Settings

UNMATCHED = "unmatched"
OTHER = "other"
NONE = "none"
ANONYMOUS = "anonymous"
METRICS_PATH = "/metrics"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
GENERATION_ROUTES = frozenset(
    {"/v1/chat/completions", "/v1/completions", "/v1/responses", "/api/chat", "/api/generate"}
)
# GatewayError codes of failed Ollama calls -> the ``kind`` label of gateway_upstream_errors.
UPSTREAM_ERROR_KINDS = {
    "ollama_unavailable": "unreachable",
    "server_busy": "busy",
    "model_not_ready": "model_not_ready",
    "upstream_timeout": "timeout",
    "upstream_error": "bad_response",
}


class LabelPolicy:
    """Maps free-form request values to a bounded set of label values."""

    def __init__(self, settings: Settings) -> None:
        self._aliases = settings.aliases
        self._known = frozenset(
            {settings.default_model, *settings.aliases.values(), *settings.expected_models}
        )

    def model(self, requested: str | None) -> str:
        """The Ollama name of a configured model (aliases resolved), else ``other``."""
        if not requested:
            return NONE
        name = self._aliases.get(requested, requested)
        return name if name in self._known else OTHER

    @staticmethod
    def route(ctx: RequestContext) -> str:
        """The matched route template; never the raw path."""
        return ctx.route or UNMATCHED

    @staticmethod
    def method(ctx: RequestContext) -> str:
        """The HTTP method, or ``other`` for non-standard ones."""
        return ctx.method if ctx.method in METHODS else OTHER

    @staticmethod
    def key(ctx: RequestContext) -> str:
        """The API key's name (never the key), ``anonymous`` when none was used."""
        return ctx.key_name or ANONYMOUS


class RequestMetrics:
    """Records the metrics of one finished request."""

    def __init__(self, settings: Settings) -> None:
        self.labels = LabelPolicy(settings)
        # Labelled children by (metric, label values): skips prometheus-client's labels()
        # validation on the hot path. Bounded, like the label values themselves.
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

    def _child(self, metric: MetricWrapperBase, *values: str) -> Any:
        child = self._children.get((metric, values))
        if child is None:
            child = self._children[(metric, values)] = metric.labels(*values)
        return child

    def observe(self, ctx: RequestContext) -> None:
        """Update every metric the context has data for."""
        route = self.labels.route(ctx)
        method = self.labels.method(ctx)
        self._child(metrics.HTTP_REQUESTS, route, method, str(ctx.status)).inc()
        self._child(metrics.HTTP_DURATION, route, method).observe(ctx.elapsed())
        self._observe_failure(ctx)
        if ctx.model is not None or ctx.prompt_tokens is not None or route in GENERATION_ROUTES:
            self._observe_model_work(ctx, route)

    def _observe_failure(self, ctx: RequestContext) -> None:
        outcome = ctx.outcome
        if outcome == AUTH_FAILED:
            reason = ctx.auth_failure_reason or ctx.error_code or "unknown"
            self._child(metrics.AUTH_FAILURES, reason).inc()
        elif outcome == RATE_LIMITED:
            limit = ctx.limit_hit or ctx.error_code or "unknown"
            self._child(metrics.RATE_LIMIT_REJECTIONS, self.labels.key(ctx), limit).inc()
        elif outcome in (UPSTREAM_ERROR, TIMEOUT):
            kind = UPSTREAM_ERROR_KINDS.get(ctx.error_code or "", OTHER)
            if kind == OTHER and outcome == TIMEOUT:
                kind = "timeout"
            self._child(metrics.UPSTREAM_ERRORS, kind).inc()

    def _observe_model_work(self, ctx: RequestContext, route: str) -> None:
        model = self.labels.model(ctx.model)
        stream = "true" if ctx.stream else "false"
        if route in GENERATION_ROUTES and ctx.outcome != AUTH_FAILED:
            self._child(metrics.GENERATIONS, model, stream, ctx.outcome or OTHER).inc()
        if ctx.prompt_tokens or ctx.completion_tokens:
            key = self.labels.key(ctx)
            self._child(metrics.PROMPT_TOKENS, model, key).inc(ctx.prompt_tokens or 0)
            self._child(metrics.COMPLETION_TOKENS, model, key).inc(ctx.completion_tokens or 0)
        if ctx.first_token_seconds is not None:
            self._child(metrics.TIME_TO_FIRST_TOKEN, model, stream).observe(ctx.first_token_seconds)
        if ctx.eval_duration_ns and ctx.completion_tokens:
            speed = ctx.completion_tokens / (ctx.eval_duration_ns / 1e9)
            self._child(metrics.OUTPUT_TOKENS_PER_SECOND, model).observe(speed)
        if ctx.load_duration_ns is not None:
            self._child(metrics.MODEL_LOAD, model).observe(ctx.load_duration_ns / 1e9)
        if ctx.upstream_seconds is not None:
            self._child(metrics.UPSTREAM_DURATION, route, model).observe(ctx.upstream_seconds)


class MetricsMiddleware:
    """Pure-ASGI: counts in-flight requests and records each request's metrics at its end.

    Must sit outside :class:`gateway.middleware.RequestContextMiddleware` so that the context
    is complete (status, route, outcome) when it is read.
    """

    def __init__(self, app: ASGIApp, recorder: RequestMetrics) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call; HTTP requests are counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = scope["path"] != METRICS_PATH
        if tracked:
            metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            if tracked:
                metrics.IN_FLIGHT.dec()
            ctx = context_of(scope)
            if ctx is not None:
                self.recorder.observe(ctx)
