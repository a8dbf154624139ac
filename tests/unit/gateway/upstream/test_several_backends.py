"""Several Ollama backends behind the real ``gateway serve`` (gunicorn, 2 workers), each backend a
fake Ollama process: the spread, a backend killed between requests and mid-stream, readmission.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.gunicorn import GunicornGateway, running_gunicorn
from tests.support.load import Load, LoadResult
from tests.support.servers import TEST_API_KEY, free_port, running_gateway
from tests.support.waiting import PATIENCE, leaving_request, wait_until
from tests.unit.gateway.access.ratelimit_support import running_redis

KEY = "sk-several-backends-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORKERS = 2
AUTH_TEST = {"Authorization": f"Bearer {TEST_API_KEY}"}
CHAT = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Deployment:
    """The gateway and its fake Ollama backends."""

    gateway: GunicornGateway
    backends: list[FakeOllamaProcess]
    killed: set[int]

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return self.gateway.url

    def generations(self) -> list[int]:
        """Generations each backend ran so far (0 for a killed one)."""
        return [
            0 if b.port in self.killed else b.stats()["generations_total"] for b in self.backends
        ]

    def kill(self, backend: FakeOllamaProcess) -> None:
        """Crash ``backend`` (SIGKILL: its connections reset, its port closes)."""
        os.kill(backend.pid, signal.SIGKILL)
        os.waitpid(backend.pid, 0)
        self.killed.add(backend.port)

    def in_flight(self) -> dict[str, float]:
        """``gateway_backend_in_flight`` per backend, summed over the workers."""
        text = httpx.get(f"{self.url}/metrics", timeout=PATIENCE).text
        found = re.findall(r'^gateway_backend_in_flight\{backend="([^"]+)"\} (\S+)$', text, re.M)
        return {name: float(value) for name, value in found}


@contextmanager
def deployment(
    count: int, gateway_env: dict[str, str] | None = None, **fake_knobs: str
) -> Iterator[Deployment]:
    """``count`` fake Ollama processes and a gateway (``gateway_env`` added) routing over them."""
    with ExitStack() as stack:
        env = {f"FAKE_OLLAMA_{k.upper()}": v for k, v in fake_knobs.items()}
        backends = [
            stack.enter_context(FakeOllamaProcess(env={"FAKE_OLLAMA_QUIET": "true", **env}))
            for _ in range(count)
        ]
        env = {
            **(gateway_env or {}),
            "GATEWAY_OLLAMA_URLS": ",".join(b.url for b in backends),
            "GATEWAY_API_KEYS": KEY,
            "GATEWAY_DEFAULT_RPM": "0",
            "GATEWAY_DEFAULT_TPM": "0",
            "GATEWAY_DEFAULT_MAX_CONCURRENT": "0",
            "GATEWAY_BACKEND_EJECTION_SECONDS": "1",
        }
        gateway = stack.enter_context(running_gunicorn(env, workers=WORKERS))
        yield Deployment(gateway, backends, set())


def run_load(url: str, requests: int, clients: int) -> LoadResult:
    """Send ``requests`` chat completions (every second one streamed) from ``clients`` clients
    (a few more: each client finishes the request it is in)."""
    load = Load(url, KEY, clients=clients, stream_every=2, max_requests=requests)
    load.start()
    wait_until(lambda: load.result.sent >= requests, f"{requests} requests answered", 300)
    return load.stop()


def test_the_generations_spread_evenly_over_four_backends() -> None:
    with deployment(4) as stack:
        result = run_load(stack.url, requests=2000, clients=16)
        assert result.failed == 0, result.summary()
        counts = stack.generations()
        total = sum(counts)
        assert total == result.sent
        shares = [count / total for count in counts]
        assert all(0.15 <= share <= 0.35 for share in shares), counts
        assert set(stack.in_flight().values()) == {0.0}


def test_a_backend_killed_between_requests_costs_no_request() -> None:
    with deployment(3) as stack:
        victim = stack.backends[0]
        stack.kill(victim)
        result = run_load(stack.url, requests=300, clients=6)
        assert result.failed == 0, result.summary()
        assert result.answered >= 300

        def reported_ejected() -> bool:  # by the worker that answers (each has its own view)
            ready = httpx.get(f"{stack.url}/health/ready", timeout=PATIENCE).json()
            states = {b["name"]: b["status"] for b in ready["backends"]}
            return states[f"127.0.0.1:{victim.port}"] == "ejected"

        for _ in range(4):  # a new connection each time: any worker may answer
            wait_until(reported_ejected, "/health/ready reports the killed backend ejected")
        assert set(stack.in_flight().values()) == {0.0}


def test_a_backend_killed_mid_stream_ends_that_stream_with_one_error_then_recovers() -> None:
    with deployment(2, token_delay="0.05", content_tokens="400") as stack:
        with httpx.stream(
            "POST",
            f"{stack.url}/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers=AUTH,
            timeout=PATIENCE,
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            events = [next(lines) for _ in range(6)]  # the stream is under way
            serving = [b for b in stack.backends if b.stats()["generations_in_flight"] == 1]
            assert len(serving) == 1
            victim = serving[0]
            survivor = next(b for b in stack.backends if b is not victim)
            stack.kill(victim)
            events += list(lines)
        data = [e for e in events if e.startswith("data: ")]
        errors = [e for e in data if e.startswith('data: {"error"')]
        assert len(errors) == 1, data[-3:]
        assert data[-1] == errors[0]
        assert "data: [DONE]" not in data

        survivor.configure(token_delay=0.0, content_tokens=12)
        for _ in range(20):
            answer = httpx.post(
                f"{stack.url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=PATIENCE
            )
            assert answer.status_code == 200, answer.text

        # The killed backend comes back on its port: after its back-off a probe readmits it.
        revived = FakeOllamaProcess(port=victim.port, env={"FAKE_OLLAMA_QUIET": "true"})
        with revived:

            def revived_serves() -> bool:
                httpx.post(
                    f"{stack.url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=PATIENCE
                ).raise_for_status()
                return revived.stats()["generations_total"] > 0

            wait_until(revived_serves, "the revived backend gets generations again", step=0.2)
        assert set(stack.in_flight().values()) == {0.0}


def test_with_redis_the_workers_count_generations_together() -> None:
    """Four generations at once from two workers land one per backend: each pick sees the
    others' generations (in Redis), not only its own worker's."""
    with running_redis() as redis:
        shared = {"GATEWAY_RATELIMIT_STORAGE": redis.url}
        with deployment(4, shared, first_token_delay="600") as stack, ExitStack() as clients:
            for n in range(4):
                clients.enter_context(
                    leaving_request(f"{stack.url}/v1/chat/completions", {**CHAT, "n": 1}, AUTH)
                )

                def arrived(n: int = n) -> bool:
                    return sum(b.stats()["generations_in_flight"] for b in stack.backends) > n

                wait_until(arrived, f"generation {n + 1} at a backend")
            assert [b.stats()["generations_in_flight"] for b in stack.backends] == [1, 1, 1, 1]
            clients.close()  # the clients leave: every generation is cancelled
            wait_until(lambda: set(stack.in_flight().values()) == {0.0}, "in-flight counts at 0")


@pytest.mark.parametrize(("stream", "attempts"), [(False, 2), (True, 1)])
def test_a_broken_connection_is_asked_again_only_while_nothing_reached_the_client(
    stream: bool, attempts: int
) -> None:
    """A whole answer is sent when complete: a connection that broke before is asked again
    (once). A stream already under way ends with its error event instead."""
    with ExitStack() as stack:
        fakes = [stack.enter_context(FakeOllamaProcess()) for _ in range(2)]
        url = stack.enter_context(running_gateway(ollama_urls=[f.url for f in fakes]))
        body = {**CHAT, "model": "fault-drop", "stream": stream}
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json=body,
            headers=AUTH_TEST,
            timeout=PATIENCE,
        )
        if stream:
            assert response.status_code == 200
            assert response.text.count('data: {"error"') == 1
        else:
            assert response.status_code == 502
        assert sum(len(f.requests("/api/chat")) for f in fakes) == attempts


def test_readiness_lists_each_backend_and_stays_ready_while_one_is_down() -> None:
    with ExitStack() as stack:
        fake = stack.enter_context(FakeOllamaProcess())
        down = f"http://127.0.0.1:{free_port()}"
        url = stack.enter_context(
            running_gateway(ollama_urls=[fake.url, down], ollama_parallel=2, ready_cache_seconds=0)
        )
        chat = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH_TEST, timeout=30)
        assert chat.status_code == 200
        ready = httpx.get(f"{url}/health/ready", timeout=PATIENCE)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert "queue" not in body
        by_name = {b["name"]: b for b in body["backends"]}
        assert by_name[f"127.0.0.1:{fake.port}"]["status"] == "ok"
        assert by_name[f"127.0.0.1:{fake.port}"]["queue"]["capacity"] == 2
        assert [b["in_flight"] for b in body["backends"]] == [0, 0]
