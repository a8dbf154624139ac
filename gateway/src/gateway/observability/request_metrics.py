"""Metrics recorded once per request, from its finished :class:`RequestContext`.

:class:`MetricsMiddleware` (pure ASGI, outside the request-context middleware) tracks the
in-flight gauge and, when the request is over, hands the context to :class:`RequestMetrics`,
which turns its fields into counter and histogram updates with bounded label values. Endpoint
code never touches a metric: it fills the context (model, tokens, timings, outcome).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.metrics import MetricWrapperBase
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import (
    AUTH_FAILED,
    RATE_LIMITED,
    TIMEOUT,
    UPSTREAM_ERROR,
    RequestContext,
    context_of,
    outcome_for_status,
)
from gateway.middleware import route_template
from gateway.observability import metrics
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


def leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes that carry a path template, looking into included routers.

    Recent FastAPI versions wrap each included router (``original_router``); older ones list
    its routes directly. Routers included with a prefix are not matched (their requests are
    labelled ``unmatched``, still a bounded value).
    """
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from leaf_routes(inner.routes)
        elif isinstance(getattr(route, "path", None), str):
            yield route


def matching_route(routes: Iterable[Any], scope: Scope) -> str | None:
    """The template of the route that ``scope`` would reach (None when there is none)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return str(route.path)
    return None


class MetricsMiddleware:
    """Pure-ASGI: counts in-flight requests and records each request's metrics once.

    The record is made just before the last body message goes out, so a scrape that follows a
    response always includes it, or when the call ends without a complete response (an error,
    a departed client). Sits outside :class:`gateway.middleware.RequestContextMiddleware`, which
    has set the status by then; route and outcome are derived the way that middleware does.
    """

    def __init__(self, app: ASGIApp, recorder: RequestMetrics) -> None:
        self.app = app
        self.recorder = recorder
        self._leaf_routes: list[Any] | None = None

    def _routes(self, scope: Scope) -> list[Any]:
        if self._leaf_routes is None:
            router = getattr(scope.get("app"), "router", None)
            self._leaf_routes = list(leaf_routes(getattr(router, "routes", ())))
        return self._leaf_routes

    def _observe(self, scope: Scope) -> None:
        ctx = context_of(scope)
        if ctx is None:
            return
        if ctx.route is None:  # not finalised yet, or refused before routing (401, 429...)
            ctx.route = route_template(scope) or matching_route(self._routes(scope), scope)
        if ctx.outcome is None:
            ctx.outcome = outcome_for_status(ctx.status)
        self.recorder.observe(ctx)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call; HTTP requests are counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = scope["path"] != METRICS_PATH
        if tracked:
            metrics.IN_FLIGHT.inc()
        pending = True

        def finish() -> None:
            nonlocal pending
            if pending:
                pending = False
                if tracked:
                    metrics.IN_FLIGHT.dec()
                self._observe(scope)

        async def send_recording_before_the_end(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, send_recording_before_the_end)
        finally:
            finish()
