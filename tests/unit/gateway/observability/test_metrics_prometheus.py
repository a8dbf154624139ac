"""A real Prometheus (Debian's ``prometheus``) scrapes gunicorn workers with the bearer token.

The scrape job is the shipped ``monitoring/prometheus.yml`` one, pointed at the test gateway and
a temporary token file; a second job with a wrong token must be refused.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fake_ollama.testing import FakeOllamaProcess
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.servers import TEST_API_KEY, free_port
from tests.support.waiting import PATIENCE
from tests.unit.gateway.observability.metrics_support import MONITORING, dashboard_queries

TOKEN = "prometheus-scrape-token-0123"
REQUESTS = 30


@pytest.fixture(scope="module")
def gunicorn(
    fake_ollama_process: FakeOllamaProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GunicornGateway]:
    """``gateway serve --workers 2`` with a metrics token."""
    env = {
        "GATEWAY_OLLAMA_URL": fake_ollama_process.url,
        "GATEWAY_API_KEYS": TEST_API_KEY,
        "GATEWAY_METRICS_TOKEN": TOKEN,
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("multiproc")),
    }
    with running_gunicorn(env, workers=2) as server:
        yield server


def _prometheus_config(target: str, directory: Path) -> dict[str, Any]:
    """The shipped config, scraping ``target`` every second, plus a job with a wrong token."""
    shipped = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = [job for job in shipped["scrape_configs"] if job["job_name"] == "gateway"]
    good, bad = directory / "token", directory / "wrong-token"
    good.write_text(TOKEN)
    bad.write_text("not-the-token")
    job["static_configs"][0]["targets"] = [target]
    job["authorization"]["credentials_file"] = str(good)
    wrong = copy.deepcopy(job)
    wrong["job_name"] = "gateway-wrong-token"
    wrong["authorization"]["credentials_file"] = str(bad)
    # A scrape may take as long as its interval (the most Prometheus allows): a busy machine
    # answering slowly must not look like a target that is down.
    interval = {"scrape_interval": "3s", "scrape_timeout": "3s", "evaluation_interval": "3s"}
    return {"global": {**shipped["global"], **interval}, "scrape_configs": [job, wrong]}


@pytest.fixture(scope="module")
def prometheus(
    gunicorn: GunicornGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Prometheus server on a free loopback port; yields its base URL."""
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is needed (apt-get install prometheus)"
    directory = tmp_path_factory.mktemp("prometheus")
    config = directory / "prometheus.yml"
    target = gunicorn.url.removeprefix("http://")
    config.write_text(yaml.safe_dump(_prometheus_config(target, directory)))
    port = free_port()
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = directory / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _poll(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, PATIENCE, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _poll(check: Any, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    detail = log.read_text(errors="replace")[-3000:] if log else ""
    raise AssertionError(f"condition not met within {timeout} s\n{detail}")


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=PATIENCE)
    body: dict[str, Any] = response.json()
    assert body["status"] == "success", (expr, body)
    return body


def _scalar(prometheus: str, expr: str) -> float | None:
    result = _query(prometheus, expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_exact_count_with_the_token(
    gunicorn: GunicornGateway, prometheus: str
) -> None:
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
        for _ in range(REQUESTS):
            assert client.get(f"{gunicorn.url}/v1/models").status_code == 200
    expr = 'sum(gateway_http_requests_total{job="gateway", route="/v1/models", status="200"})'
    _poll(lambda: _scalar(prometheus, expr) == REQUESTS, PATIENCE)
    _poll(lambda: _scalar(prometheus, 'up{job="gateway"}') == 1, PATIENCE)
    # The second job scrapes on its own schedule: wait for a scrape refused with a 401.
    _poll(lambda: "401" in _last_error(prometheus, "gateway-wrong-token"), PATIENCE)
    assert _scalar(prometheus, 'up{job="gateway-wrong-token"}') == 0


def _last_error(prometheus: str, job: str) -> str:
    """The error of the last scrape of ``job``'s target ("" when it succeeded or none ran)."""
    answer = httpx.get(f"{prometheus}/api/v1/targets", timeout=PATIENCE)
    targets = answer.json()["data"]["activeTargets"]
    (target,) = [t for t in targets if t["labels"]["job"] == job]
    error: str = target["lastError"]
    return error


def test_every_dashboard_query_runs_on_prometheus(prometheus: str) -> None:
    for expr in dashboard_queries():
        _query(prometheus, expr.replace("$__rate_interval", "1m").replace("$__range", "1h"))
