"""A full connection pool towards Ollama is "busy", never "Ollama is not reachable".

Found by the e2e fault "Ollama slower than the timeout": with every connection of a worker held
by slow generations, the next request waited the pool timeout and was told Ollama was down,
sending operators to look for a dead Ollama that was answering all along.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, leaving_request, wait_until


def test_a_full_pool_answers_503_busy_not_unreachable(
    gateway_factory: Callable[..., str], gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    url = gateway_factory(upstream_max_connections=1, connect_timeout=0.3)
    headers = {"Authorization": f"Bearer {gateway_api_key}"}
    hanging = {"model": "fault-hang", "messages": [{"role": "user", "content": "hi"}]}

    # Ollama never answers this one: it holds the worker's only connection until the client
    # leaves (when the block ends).
    with leaving_request(f"{url}/api/chat", hanging, headers):
        wait_until(lambda: fake_ollama.requests(path="/api/chat"), "the request at Ollama")
        answer = httpx.get(f"{url}/v1/models", headers=headers, timeout=PATIENCE)

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "server_busy"
    assert "not reachable" not in error["message"]
    assert "GATEWAY_UPSTREAM_MAX_CONNECTIONS" in error["message"]
