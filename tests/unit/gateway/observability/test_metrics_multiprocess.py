"""/metrics under real gunicorn with 4 workers: exact counters, histograms, sane gauges.

Traffic is spread over the workers with concurrent requests on fresh connections; a scrape,
served by whichever worker, must report every worker's requests exactly.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from fake_ollama.testing import FakeOllamaProcess
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.servers import TEST_API_KEY
from tests.support.waiting import PATIENCE, ollama_held, wait_until
from tests.unit.gateway.observability.metrics_support import bucket_counts, scrape

TOKEN = "metrics-token-for-tests"
WORKERS = 4
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR of the gunicorn under test (pre-filled with a stale file)."""
    directory = tmp_path_factory.mktemp("prometheus-multiproc")
    (directory / "counter_999999.db").write_bytes(b"stale from an earlier run")
    return directory


@pytest.fixture(scope="module")
def gunicorn(
    fake_ollama_process: FakeOllamaProcess, metrics_dir: Path
) -> Iterator[GunicornGateway]:
    """``gateway serve --workers 4`` in front of the session's fake Ollama."""
    env = {
        "GATEWAY_OLLAMA_URL": fake_ollama_process.url,
        "GATEWAY_API_KEYS": TEST_API_KEY,
        # No rate limits: not under test, and a per-worker cap of 4 in-flight requests turns
        # into 429s when a busy machine lets several chats overlap on one worker.
        "GATEWAY_DEFAULT_RPM": "0",
        "GATEWAY_DEFAULT_TPM": "0",
        "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
        "GATEWAY_METRICS_TOKEN": TOKEN,
        "GATEWAY_GIT_SHA": "abc1234",
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with running_gunicorn(env, workers=WORKERS) as server:
        yield server


def _fresh_connection_request(
    base_url: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """One request on its own connection, so the kernel hands it to any worker."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return client.request(method, path, **kwargs)


def _chat(base_url: str, stream: bool) -> tuple[int, int]:
    """One chat completion; returns (prompt_tokens, completion_tokens) from its usage."""
    body: dict[str, Any] = {"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    response = _fresh_connection_request(base_url, "POST", CHAT, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    if not stream:
        usage = response.json()["usage"]
    else:
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: {")]
        usage = orjson.loads(events[-1])["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"]


def _served_by_worker(metrics_dir: Path) -> dict[int, float]:
    """HTTP requests counted in each worker's counter file."""
    served: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == "gateway_http_requests":
                served[pid] = sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return served


def test_scrape_counts_every_workers_requests_exactly(
    gunicorn: GunicornGateway, metrics_dir: Path
) -> None:
    url = gunicorn.url
    assert not (metrics_dir / "counter_999999.db").exists(), "stale files are wiped at start"
    served_before = _served_by_worker(metrics_dir)
    before = scrape(url, TOKEN)
    live, chats, unknown = 400, 40, 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        lives = [
            pool.submit(_fresh_connection_request, url, "GET", "/health/live") for _ in range(live)
        ]
        usages = [pool.submit(_chat, url, i % 2 == 0) for i in range(chats)]
        misses = [
            pool.submit(_fresh_connection_request, url, "GET", f"/no/such/path/{i}")
            for i in range(unknown)
        ]
        assert all(f.result().status_code == 200 for f in lives)
        assert all(f.result().status_code == 404 for f in misses)
        prompt = sum(f.result()[0] for f in usages)
        completion = sum(f.result()[1] for f in usages)

    served = {
        pid: count - served_before.get(pid, 0)
        for pid, count in _served_by_worker(metrics_dir).items()
    }
    busy_workers = [pid for pid, count in served.items() if count > 0]
    assert len(busy_workers) >= 2, f"traffic should reach several workers, got {served}"
    after = scrape(url, TOKEN)

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "gateway_http_requests_total"
    assert added(requests, route="/health/live", method="GET", status="200") == live
    assert added(requests, route=CHAT, method="POST", status="200") == chats
    assert added(requests, route="unmatched", method="GET", status="404") == unknown
    assert "/no/such/path" not in after.text, "raw paths never become label values"
    assert added(requests) == live + chats + unknown + 1  # + the first scrape

    duration = "gateway_http_request_duration_seconds"
    assert added(f"{duration}_count", route="/health/live") == live
    buckets = bucket_counts(after, duration, route="/health/live")
    assert buckets[-1] == (float("inf"), after.value(f"{duration}_count", route="/health/live"))
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)
    assert added(f"{duration}_sum", route="/health/live") > 0

    generations = "gateway_generations_total"
    assert added(generations, model="gpt-oss:20b", stream="true", outcome="ok") == chats / 2
    assert added(generations, model="gpt-oss:20b", stream="false", outcome="ok") == chats / 2
    assert added("gateway_prompt_tokens_total", model="gpt-oss:20b") == prompt
    assert added("gateway_completion_tokens_total", model="gpt-oss:20b") == completion
    assert added("gateway_time_to_first_token_seconds_count", model="gpt-oss:20b") == chats
    assert added("gateway_output_tokens_per_second_count", model="gpt-oss:20b") == chats
    assert added("gateway_upstream_request_duration_seconds_count", route=CHAT) == chats

    assert after.value("gateway_http_requests_in_flight") == 0
    assert after.value("gateway_ollama_up") == 1
    assert after.value("gateway_default_model_present", model="gpt-oss:20b") == 1
    assert after.value("gateway_build_info", version="0.1.0", git_sha="abc1234") == 1


def test_metrics_needs_the_token(gunicorn: GunicornGateway) -> None:
    response = httpx.get(f"{gunicorn.url}/metrics", timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_metrics_token"
    wrong = httpx.get(f"{gunicorn.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def _in_flight_by_worker(metrics_dir: Path) -> dict[int, float]:
    """The in-flight gauge value each live worker file holds."""
    values: dict[int, float] = {}
    for path in metrics_dir.glob("gauge_livesum_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == "gateway_http_requests_in_flight":
                values[pid] = sum(s.value for s in metric.samples)
    return values


def test_gauges_stay_sane_when_a_busy_worker_is_killed(
    gunicorn: GunicornGateway, metrics_dir: Path, fake_ollama_process: FakeOllamaProcess
) -> None:
    failures: list[BaseException] = []

    def slow_stream() -> None:
        try:
            _chat(gunicorn.url, stream=True)
        except (httpx.HTTPError, AssertionError) as exc:  # the killed worker's streams break
            failures.append(exc)

    threads = [threading.Thread(target=slow_stream) for _ in range(8)]
    try:
        # The streams wait at the fake Ollama until the test lets them go: in flight for sure.
        with ollama_held(fake_ollama_process):
            at_ollama = len(fake_ollama_process.requests("/api/chat"))
            for thread in threads:
                thread.start()
            wait_until(
                lambda: len(fake_ollama_process.requests("/api/chat")) == at_ollama + 8,
                "the eight streams at Ollama",
            )
            busy = wait_until(
                lambda: {p: v for p, v in _in_flight_by_worker(metrics_dir).items() if v > 0},
                "some worker serving a stream",
            )
            assert scrape(gunicorn.url, TOKEN).value("gateway_http_requests_in_flight") >= 1
            before = scrape(gunicorn.url, TOKEN).value("gateway_http_requests_total")

            victim = max(busy, key=lambda pid: busy[pid])
            os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=PATIENCE)
        gunicorn.wait_for_workers(WORKERS, exclude=victim)
    finally:
        fake_ollama_process.reset()

    assert failures, "the killed worker's clients saw their stream break"
    assert not (metrics_dir / f"gauge_livesum_{victim}.db").exists()
    after = scrape(gunicorn.url, TOKEN)
    assert after.value("gateway_http_requests_in_flight") == 0
    assert after.value("gateway_ollama_up") == 1
    assert after.value("gateway_build_info", git_sha="abc1234") == 1
    assert after.value("gateway_http_requests_total") >= before, "counters never go back"
