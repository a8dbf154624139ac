"""The gunicorn hooks of multiprocess metrics and the merged exposition, called in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import gunicorn_conf
from gateway.observability import metrics
from tests.unit.gateway.observability.metrics_support import Scrape

ENV = "PROMETHEUS_MULTIPROC_DIR"

WRITE_FROM_ANOTHER_PROCESS = """
import os
from gateway.observability import metrics
metrics.HTTP_REQUESTS.labels("/v1/models", "GET", "200").inc(3)
metrics.IN_FLIGHT.inc(2)
print(os.getpid())
"""


def test_on_starting_empties_the_configured_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    (directory / "gauge_livesum_123.db").write_bytes(b"old")
    (directory / "README").write_text("not ours")
    monkeypatch.setenv(ENV, str(directory))
    gunicorn_conf.on_starting(SimpleNamespace())
    assert sorted(p.name for p in directory.iterdir()) == ["README"]


def test_on_starting_creates_a_missing_configured_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "not" / "there"
    monkeypatch.setenv(ENV, str(directory))
    gunicorn_conf.on_starting(SimpleNamespace())
    assert directory.is_dir()


def test_without_a_directory_a_temporary_one_is_made_and_removed_on_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "placeholder")  # so that the variable is removed again afterwards
    monkeypatch.delenv(ENV)
    server = SimpleNamespace()
    gunicorn_conf.on_starting(server)
    directory = Path(os.environ[ENV])
    assert directory.is_dir()
    gunicorn_conf.on_exit(server)
    assert not directory.exists()
    gunicorn_conf.on_exit(SimpleNamespace())  # nothing to remove: no error


def test_a_dead_workers_live_gauges_go_and_its_counters_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    for name in ("counter_77.db", "histogram_77.db", "gauge_livesum_77.db", "gauge_livesum_78.db"):
        (tmp_path / name).write_bytes(b"")
    gunicorn_conf.child_exit(SimpleNamespace(), SimpleNamespace(pid=77))
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert remaining == ["counter_77.db", "gauge_livesum_78.db", "histogram_77.db"]


def test_exposition_merges_other_processes_and_forgets_dead_ones_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"PATH": "/usr/bin:/bin", ENV: str(tmp_path)}
    pids = [  # two "workers"
        int(subprocess.run(
            [sys.executable, "-c", WRITE_FROM_ANOTHER_PROCESS], env=env, check=True,
            capture_output=True, text=True,
        ).stdout)
        for _ in range(2)
    ]  # fmt: skip
    monkeypatch.setenv(ENV, str(tmp_path))
    merged = Scrape(metrics.exposition().decode())
    labels = {"route": "/v1/models", "method": "GET", "status": "200"}
    assert merged.value("gateway_http_requests_total", **labels) == 6
    assert merged.value("gateway_http_requests_in_flight") == 4
    for pid in pids:
        gunicorn_conf.child_exit(SimpleNamespace(), SimpleNamespace(pid=pid))
    merged = Scrape(metrics.exposition().decode())
    assert merged.value("gateway_http_requests_total", **labels) == 6
    assert merged.value("gateway_http_requests_in_flight") == 0
