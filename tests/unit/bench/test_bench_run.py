"""`make bench` (bench/run.py): a tiny run writes the JSON report and the PNG it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

RUN = REPO_ROOT / "bench" / "run.py"
TINY = ["--requests", "60", "--warmup", "10", "--streams", "10", "--relay-streams", "2"]


def test_a_tiny_run_reports_every_measure_and_a_verdict_per_target(tmp_path: Path) -> None:
    command = [
        sys.executable,
        str(RUN),
        *TINY,
        "--relay-tokens",
        "200",
        "--output-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert [run["concurrency"] for run in report["non_streaming"]] == [1, 16]
    for run in report["non_streaming"]:
        for side in ("direct", "gateway"):
            assert run[side]["requests"] == 60
            assert run[side]["errors"] == 0
        assert run["gateway"]["gateway_cpu_ms_per_request"] > 0
    relay = report["streaming"]["relay"]
    # Every one of the 200 tokens is one relayed chunk (plus the closing record or two).
    assert 200 < relay["direct"]["chunks_per_stream"] <= 203
    assert 200 < relay["gateway"]["chunks_per_stream"] <= 203
    assert report["streaming"]["first_token"]["gateway"]["first_token_p50_ms"] > 0
    assert report["memory"]["gateway_worker_rss_after_mb"] > 10
    assert set(report["targets"]) == {"added_p50_ms", "req_per_s_per_worker"}
    assert report["targets"]["added_p50_ms"]["limit"] == 1.5
    assert report["targets"]["req_per_s_per_worker"]["limit"] == 600
    if (RUN.parents[1] / ".git").exists():
        assert len(report["git"]["sha"]) == 40
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
    assert "wrote" in done.stdout


def test_counts_must_be_positive(tmp_path: Path) -> None:
    command = [sys.executable, str(RUN), "--requests", "0", "--output-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert done.returncode == 2
    assert "must be >= 1" in done.stderr
    assert not (tmp_path / "latest.json").exists()
