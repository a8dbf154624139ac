"""Model management over several backends: pull and delete reach each one, lists merge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import TEST_API_KEY, free_port, running_gateway
from tests.support.waiting import PATIENCE

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


@dataclass
class Deployment:
    """An in-process gateway (auth off: admin rights) over two fake Ollama processes."""

    url: str
    backends: list[FakeOllamaProcess]

    def has(self, model: str) -> list[bool]:
        """Whether each backend lists ``model``."""
        return [
            model in [m["name"] for m in b.call("GET", "/api/tags")["models"]]
            for b in self.backends
        ]


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    """Two fakes and a gateway routing over them."""
    with ExitStack() as stack:
        fakes = [stack.enter_context(FakeOllamaProcess()) for _ in range(2)]
        url = stack.enter_context(
            running_gateway(ollama_urls=[f.url for f in fakes], auth_disabled=True, api_keys="")
        )
        yield Deployment(url, fakes)


def test_pull_and_delete_reach_every_backend(deployment: Deployment) -> None:
    pulled = httpx.post(
        f"{deployment.url}/api/pull", json={"model": "all-minilm", "stream": False}, timeout=30
    )
    assert (pulled.status_code, pulled.json()) == (200, {"status": "success"})
    assert deployment.has("all-minilm:latest") == [True, True]

    deleted = httpx.request(
        "DELETE", f"{deployment.url}/api/delete", json={"model": "all-minilm"}, timeout=30
    )
    assert deleted.status_code == 200
    assert deployment.has("all-minilm:latest") == [False, False]


def test_a_pull_failing_on_one_backend_says_which(deployment: Deployment) -> None:
    deployment.backends[1].configure(pull_failures=1)
    failed = httpx.post(f"{deployment.url}/api/pull", json={"model": "all-minilm"}, timeout=30)
    assert failed.status_code == 200  # Ollama streams the progress, then the error line
    last = failed.text.strip().splitlines()[-1]
    assert f"Ollama backend 127.0.0.1:{deployment.backends[1].port}: pull model" in last
    missing = httpx.request(
        "DELETE", f"{deployment.url}/api/delete", json={"model": "nope"}, timeout=30
    )
    assert missing.status_code == 404
    assert "Ollama backend 127.0.0.1:" in missing.json()["error"]


@pytest.mark.parametrize("path", ["/api/tags", "/api/ps", "/v1/models"])
def test_model_lists_merge_every_backend(deployment: Deployment, path: str) -> None:
    deployment.backends[1].call("POST", "/api/pull", {"model": "all-minilm", "stream": False})
    for backend in deployment.backends:
        body = {"model": "gpt-oss:20b", "prompt": "x", "stream": False}
        backend.call("POST", "/api/generate", body)
    listed = httpx.get(f"{deployment.url}{path}", headers=AUTH, timeout=PATIENCE).json()
    if path == "/v1/models":
        assert {"gpt-oss:20b", "all-minilm:latest"} <= {m["id"] for m in listed["data"]}
    elif path == "/api/tags":
        assert sorted(m["name"] for m in listed["models"]) == ["all-minilm:latest", "gpt-oss:20b"]
    else:  # loaded on both: it holds memory on both
        assert [m["name"] for m in listed["models"]].count("gpt-oss:20b") == 2


def test_a_backend_down_is_left_out_of_lists_and_named_in_management() -> None:
    with ExitStack() as stack:
        fake = stack.enter_context(FakeOllamaProcess())
        down = f"http://127.0.0.1:{free_port()}"
        url = stack.enter_context(
            running_gateway(ollama_urls=[fake.url, down], auth_disabled=True, api_keys="")
        )
        tags = httpx.get(f"{url}/api/tags", timeout=PATIENCE)
        assert [m["name"] for m in tags.json()["models"]] == ["gpt-oss:20b"]
        pulled = httpx.post(f"{url}/api/pull", json={"model": "all-minilm"}, timeout=30)
        assert pulled.status_code == 502
        assert "not reachable" in pulled.json()["error"]
        fake.stop()
        gone = httpx.get(f"{url}/api/ps", timeout=PATIENCE)
        assert gone.status_code == 503
        assert gone.json()["error"]["code"] == "ollama_unavailable"
