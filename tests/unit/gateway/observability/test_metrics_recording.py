"""What one finished request context adds to the metrics (in-process default registry)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from gateway.context import (
    AUTH_FAILED,
    CLIENT_DISCONNECT,
    OK,
    RATE_LIMITED,
    TIMEOUT,
    UPSTREAM_ERROR,
    RequestContext,
    outcome_for_status,
)
from gateway.observability.request_metrics import RequestMetrics
from gateway.settings import Settings

CHAT = "/v1/chat/completions"


def _value(name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def recorder() -> RequestMetrics:
    return RequestMetrics(
        Settings(
            model_aliases={"gpt-oss-20b": "gpt-oss:20b", "big": "gpt-oss:120b"},
            expected_models=["nomic-embed-text:latest"],
        )
    )


def _ctx(route: str | None = CHAT, status: int = 200, **fields: object) -> RequestContext:
    ctx = RequestContext(request_id="r", method="POST", path="/raw/path", client_ip=None)
    ctx.route, ctx.status = route, status
    for name, value in fields.items():
        setattr(ctx, name, value)
    if ctx.outcome is None:
        ctx.outcome = outcome_for_status(status)
    return ctx


def _delta(observe: Callable[[], None], name: str, **labels: str) -> float:
    before = _value(name, **labels)
    observe()
    return _value(name, **labels) - before


def test_a_streamed_generation_feeds_every_generation_metric(recorder: RequestMetrics) -> None:
    ctx = _ctx(model="gpt-oss-20b", stream=True, key_name="alice", outcome=OK)
    ctx.mark_first_token()
    ctx.record_final_chunk(
        {"prompt_eval_count": 7, "eval_count": 50, "eval_duration": 2_000_000_000,
         "load_duration": 3_000_000_000}
    )  # fmt: skip
    ctx.add_upstream_time(2.5)
    model = {"model": "gpt-oss:20b"}
    names = {
        "gateway_generations_total": {**model, "stream": "true", "outcome": OK},
        "gateway_prompt_tokens_total": {**model, "key": "alice"},
        "gateway_completion_tokens_total": {**model, "key": "alice"},
        "gateway_time_to_first_token_seconds_count": {**model, "stream": "true"},
        "gateway_output_tokens_per_second_sum": model,
        "gateway_model_load_seconds_sum": model,
        "gateway_upstream_request_duration_seconds_sum": {**model, "route": CHAT},
        "gateway_http_requests_total": {"route": CHAT, "method": "POST", "status": "200"},
    }
    before = {name: _value(name, **labels) for name, labels in names.items()}
    recorder.observe(ctx)
    added = {name: _value(name, **labels) - before[name] for name, labels in names.items()}
    # Differences of float sums: approximate (earlier tests may have added to the same series).
    assert added == pytest.approx(
        {
            "gateway_generations_total": 1,
            "gateway_prompt_tokens_total": 7,
            "gateway_completion_tokens_total": 50,
            "gateway_time_to_first_token_seconds_count": 1,
            "gateway_output_tokens_per_second_sum": 25.0,  # 50 tokens in 2 s
            "gateway_model_load_seconds_sum": 3.0,
            "gateway_upstream_request_duration_seconds_sum": 2.5,
            "gateway_http_requests_total": 1,
        }
    )


@pytest.mark.parametrize(
    ("requested", "label"),
    [("gpt-oss:20b", "gpt-oss:20b"), ("big", "gpt-oss:120b"),
     ("nomic-embed-text:latest", "nomic-embed-text:latest"), ("made-up:7b", "other")],
)  # fmt: skip
def test_model_labels_are_configured_names_or_other(
    recorder: RequestMetrics, requested: str, label: str
) -> None:
    ctx = _ctx(model=requested, outcome=OK)
    name = "gateway_generations_total"
    assert _delta(lambda: recorder.observe(ctx), name, model=label, stream="false", outcome=OK) == 1


def test_unmatched_routes_and_odd_methods_get_fixed_labels(recorder: RequestMetrics) -> None:
    ctx = _ctx(route=None, status=404)
    ctx.method = "PROPFIND"
    labels = {"route": "unmatched", "method": "other", "status": "404"}
    assert _delta(lambda: recorder.observe(ctx), "gateway_http_requests_total", **labels) == 1


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(503, "ollama_unavailable", "unreachable"), (503, "server_busy", "busy"),
     (503, "model_not_ready", "model_not_ready"), (504, "upstream_timeout", "timeout"),
     (502, "upstream_error", "bad_response"), (504, None, "timeout"), (502, None, "other")],
)  # fmt: skip
def test_upstream_errors_are_counted_by_kind(
    recorder: RequestMetrics, status: int, code: str | None, kind: str
) -> None:
    ctx = _ctx(status=status, model="gpt-oss:20b")
    ctx.error_code = code
    assert ctx.outcome in (UPSTREAM_ERROR, TIMEOUT)
    assert _delta(lambda: recorder.observe(ctx), "gateway_upstream_errors_total", kind=kind) == 1


def test_auth_failures_are_counted_by_reason_and_are_not_generations(
    recorder: RequestMetrics,
) -> None:
    ctx = _ctx(status=401, auth_failure_reason="missing_key")
    assert ctx.outcome == AUTH_FAILED
    generations = "gateway_generations_total"
    before = _value(generations, outcome=AUTH_FAILED)
    name = "gateway_auth_failures_total"
    assert _delta(lambda: recorder.observe(ctx), name, reason="missing_key") == 1
    assert _value(generations, outcome=AUTH_FAILED) == before


def test_rate_limit_rejections_name_the_key_and_the_limit(recorder: RequestMetrics) -> None:
    ctx = _ctx(status=429, key_name="bob", limit_hit="tokens")
    assert ctx.outcome == RATE_LIMITED
    name = "gateway_rate_limit_rejections_total"
    assert _delta(lambda: recorder.observe(ctx), name, key="bob", limit="tokens") == 1
    anonymous = _ctx(status=429, limit_hit="auth_failures")
    labels = {"key": "anonymous", "limit": "auth_failures"}
    assert _delta(lambda: recorder.observe(anonymous), name, **labels) == 1


def test_a_disconnect_still_counts_the_tokens_produced(recorder: RequestMetrics) -> None:
    ctx = _ctx(status=200, model="gpt-oss:20b", stream=True, outcome=CLIENT_DISCONNECT)
    ctx.record_usage(5, 3)
    labels = {"model": "gpt-oss:20b", "key": "anonymous"}
    assert _delta(lambda: recorder.observe(ctx), "gateway_completion_tokens_total", **labels) == 3
    name = "gateway_generations_total"
    again = _ctx(status=200, model="gpt-oss:20b", stream=True, outcome=CLIENT_DISCONNECT)
    labels = {"model": "gpt-oss:20b", "stream": "true", "outcome": CLIENT_DISCONNECT}
    assert _delta(lambda: recorder.observe(again), name, **labels) == 1


def test_outcome_follows_the_status_when_no_code_chose_one() -> None:
    statuses = (200, 400, 401, 403, 404, 429, 499, 500, 502, 503, 504)
    assert [outcome_for_status(status) for status in statuses] == [
        OK, "invalid_request", AUTH_FAILED, AUTH_FAILED, "invalid_request", RATE_LIMITED,
        CLIENT_DISCONNECT, "error", UPSTREAM_ERROR, UPSTREAM_ERROR, TIMEOUT,
    ]  # fmt: skip
