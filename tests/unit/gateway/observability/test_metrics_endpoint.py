"""GET /metrics on a single-process gateway: access with the token, format, bounded labels."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.servers import TEST_API_KEY
from tests.unit.gateway.observability.metrics_support import Scrape, scrape

TOKEN = "scrape-me-0123456789"
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def test_metrics_is_a_plain_route_in_prometheus_text_format(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/metrics", follow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = Scrape(response.text).names()
    assert {"gateway_http_requests_total", "gateway_build_info"} <= names


def test_with_a_token_metrics_needs_the_bearer(gateway_factory: Callable[..., str]) -> None:
    url = gateway_factory(metrics_token=TOKEN)
    missing = httpx.get(f"{url}/metrics", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    error = missing.json()["error"]
    assert error["code"] == "invalid_metrics_token"
    assert "GATEWAY_METRICS_TOKEN" in error["message"]
    assert TOKEN not in missing.text
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer {TEST_API_KEY}"):
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": header}, timeout=10)
        assert wrong.status_code == 401, header
    assert scrape(url, TOKEN).value("gateway_build_info") >= 1


def test_failed_scrapes_count_as_auth_failures(gateway_factory: Callable[..., str]) -> None:
    url = gateway_factory(metrics_token=TOKEN)
    before = scrape(url, TOKEN).value("gateway_auth_failures_total", reason="invalid_metrics_token")
    httpx.get(f"{url}/metrics", timeout=10)
    after = scrape(url, TOKEN).value("gateway_auth_failures_total", reason="invalid_metrics_token")
    assert after - before == 1


def test_label_values_stay_bounded(gateway_url: str) -> None:
    before = scrape(gateway_url)
    unknown = httpx.get(f"{gateway_url}/secret-looking/path/12345", headers=AUTH, timeout=10)
    assert unknown.status_code == 404
    body = {"model": "no-such-model:1b", "messages": [{"role": "user", "content": "hi"}]}
    chat = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=AUTH, timeout=10)
    assert chat.status_code == 404
    after = scrape(gateway_url)
    assert "secret-looking" not in after.text
    assert "no-such-model" not in after.text
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    name = "gateway_http_requests_total"
    assert after.value(name, **unmatched) - before.value(name, **unmatched) == 1
    generations = {"model": "other", "outcome": "invalid_request"}
    name = "gateway_generations_total"
    assert after.value(name, **generations) - before.value(name, **generations) == 1


def _chat(url: str, model: str, stream: bool) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def test_upstream_failures_are_counted_by_kind(gateway_url: str) -> None:
    before = scrape(gateway_url)
    assert _chat(gateway_url, "fault-busy", stream=False).status_code == 503
    dropped = _chat(gateway_url, "fault-drop", stream=True)
    assert dropped.status_code == 200
    assert '"error"' in dropped.text  # the stream ended with an error event
    after = scrape(gateway_url)

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert added("gateway_upstream_errors_total", kind="busy") == 1
    assert added("gateway_upstream_errors_total", kind="bad_response") == 1
    failed = {"model": "other", "outcome": "upstream_error"}
    assert added("gateway_generations_total", **failed, stream="false") == 1
    assert added("gateway_generations_total", **failed, stream="true") == 1


def test_requests_refused_before_routing_keep_their_route_and_reason(gateway_url: str) -> None:
    before = scrape(gateway_url)
    body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
    refused = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, timeout=10)
    assert refused.status_code == 401
    after = scrape(gateway_url)
    labels = {"route": "/v1/chat/completions", "method": "POST", "status": "401"}
    name = "gateway_http_requests_total"
    assert after.value(name, **labels) - before.value(name, **labels) == 1
    name = "gateway_auth_failures_total"
    assert after.value(name) - before.value(name) == 1
    assert after.value("gateway_generations_total", outcome="auth_failed") == 0
