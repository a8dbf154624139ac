"""/api/pull: the progress stream, the model appearing, failing pulls, cancellation."""

from __future__ import annotations

import time

import httpx

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, wait_until
from tests.unit.fake_ollama.fake_ollama_support import chat, ndjson, post


def _names(fake: FakeOllamaProcess) -> list[str]:
    return [m["name"] for m in httpx.get(fake.url + "/api/tags", timeout=5).json()["models"]]


def test_pull_streams_progress_over_the_duration_then_the_model_is_usable(
    fake_ollama: FakeOllamaProcess,
) -> None:
    fake_ollama.configure(models=[], pull_seconds=0.3)
    assert _names(fake_ollama) == []
    assert chat(fake_ollama).status_code == 404
    started = time.monotonic()
    response = post(fake_ollama, "/api/pull", {"model": "gpt-oss:20b"})
    assert time.monotonic() - started >= 0.3
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = ndjson(response)
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-3:] == [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    blob = [line for line in lines if line.get("total", 0) > 10**9]
    assert blob[0]["status"] == "pulling " + blob[0]["digest"][len("sha256:") : len("sha256:") + 12]
    assert "completed" not in blob[0]
    progress = [line["completed"] for line in blob[1:]]
    assert progress == sorted(progress)
    assert progress[-1] == blob[0]["total"]
    assert _names(fake_ollama) == ["gpt-oss:20b"]
    assert chat(fake_ollama, stream=False).status_code == 200


def test_initial_pulls_fail_with_a_dns_error_line_then_succeed(
    fake_ollama: FakeOllamaProcess,
) -> None:
    fake_ollama.configure(models=[], pull_seconds=0.0, pull_failures=2)
    for _ in range(2):
        response = post(fake_ollama, "/api/pull", {"model": "gpt-oss:20b"})
        assert response.status_code == 200
        lines = ndjson(response)
        assert lines[0] == {"status": "pulling manifest"}
        assert "lookup registry.ollama.ai" in lines[-1]["error"]
        assert "library/gpt-oss/manifests/20b" in lines[-1]["error"]
        assert _names(fake_ollama) == []
    assert ndjson(post(fake_ollama, "/api/pull", {"model": "gpt-oss:20b"}))[-1] == {
        "status": "success"
    }


def test_non_streaming_pull_answers_once(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=[], pull_seconds=0.0, pull_failures=1)
    failed = post(fake_ollama, "/api/pull", {"model": "gpt-oss:120b", "stream": False})
    assert failed.status_code == 500
    assert "no such host" in failed.json()["error"]
    done = post(fake_ollama, "/api/pull", {"model": "gpt-oss:120b", "stream": False})
    assert (done.status_code, done.json()) == (200, {"status": "success"})
    assert _names(fake_ollama) == ["gpt-oss:120b"]


def test_a_model_outside_the_registry_cannot_be_pulled(fake_ollama: FakeOllamaProcess) -> None:
    lines = ndjson(post(fake_ollama, "/api/pull", {"model": "no-such-model"}))
    assert lines == [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ]


def test_an_abandoned_pull_is_recorded_and_adds_nothing(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(models=[], pull_seconds=600.0)  # only leaving ends it early
    with httpx.stream(
        "POST", fake_ollama.url + "/api/pull", json={"model": "gpt-oss:20b"}, timeout=PATIENCE
    ) as response:
        lines = response.iter_lines()
        next(lines)
        next(lines)
    cancelled = wait_until(fake_ollama.cancelled, "the abandoned pull recorded")
    assert [(c["path"], c["stage"]) for c in cancelled] == [("/api/pull", "pulling")]
    assert _names(fake_ollama) == []
