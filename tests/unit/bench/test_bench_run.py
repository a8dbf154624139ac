"""`make bench` (bench/run.py): a tiny run writes the JSON report and the PNG it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

RUN = REPO_ROOT / "bench" / "run.py"
TINY = ["--requests", "60", "--warmup", "10", "--streams", "10", "--answer-tokens", "20", "40"]
SIDES = ("direct", "reference", "gateway")


def test_a_tiny_run_compares_gateway_and_reference_and_judges_every_ratio(tmp_path: Path) -> None:
    command = [sys.executable, str(RUN), *TINY, "--output-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert [point["answer_tokens"] for point in report["points"]] == [20, 40]
    for point in report["points"]:
        assert [run["concurrency"] for run in point["non_streaming"]] == [1, 16]
        for run in point["non_streaming"]:
            for side in SIDES:
                assert run[side]["requests"] == 60
                assert run[side]["errors"] == 0
            assert run["ratios"]["req_per_s"] == round(
                run["gateway"]["req_per_s"] / run["reference"]["req_per_s"], 3
            )
        stream = point["streaming"]
        for side in SIDES:
            assert stream[side]["errors"] == 0
            # Every content token is one relayed chunk, plus the reasoning and closing records.
            assert stream[side]["chunks_per_stream"] >= point["answer_tokens"]
        assert stream["ratios"]["chunks_per_s"] > 0
    assert report["memory"]["gateway_worker_rss_after_mb"] > 10
    assert set(report["targets"]) == {
        *(f"added_p50_ratio_{t}t" for t in (20, 40)),
        *(f"req_per_s_ratio_{t}t_{c}c" for t in (20, 40) for c in (1, 16)),
        *(f"first_token_ratio_{t}t" for t in (20, 40)),
        *(f"chunks_per_s_ratio_{t}t" for t in (20, 40)),
        "worker_rss_mb",
    }
    assert report["targets"]["added_p50_ratio_20t"]["limit"] == 1.3
    assert report["targets"]["req_per_s_ratio_40t_16c"]["limit"] == 0.8
    assert report["targets"]["worker_rss_mb"]["limit"] == 120
    assert report["passed"] == all(line["pass"] for line in report["targets"].values())
    if (RUN.parents[1] / ".git").exists():
        assert len(report["git"]["sha"]) == 40
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")
    for name in report["targets"]:
        assert name in done.stdout


def test_counts_must_be_positive(tmp_path: Path) -> None:
    command = [sys.executable, str(RUN), "--requests", "0", "--output-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert done.returncode == 2
    assert "must be >= 1" in done.stderr
    assert not (tmp_path / "latest.json").exists()
