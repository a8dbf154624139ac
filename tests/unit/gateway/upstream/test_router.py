"""Routing over several Ollama backends: the pick, passive ejection, back-off and readmission.

The backends are in-process (``httpx.MockTransport``) and time is a clock the test moves, so
ejection and back-off are checked to the second without waiting.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from gateway.errors import InvalidRequest, ServiceUnavailable, UpstreamError
from gateway.settings import Settings
from gateway.upstream.backends import FAILURES_TO_EJECT, Backend, backend_label
from gateway.upstream.client import OllamaClient
from gateway.upstream.router import Router
from tests.support.clock import ManualClock

MODEL = "gpt-oss:20b"
URLS = ["http://gpu0:11434", "http://gpu1:11434", "http://gpu2:11434", "http://gpu3:11434"]
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
ANSWER = b"".join(
    orjson.dumps(o) + b"\n"
    for o in (
        {"message": {"role": "assistant", "content": "Hello"}, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 1},
    )
)
Handler = Callable[[httpx.Request], httpx.Response]


def ps_answer(*models: str) -> httpx.Response:
    """Ollama's ``/api/ps`` listing ``models`` as loaded."""
    listed = [{"name": m, "model": m, "size": 1, "size_vram": 1} for m in models]
    return httpx.Response(200, json={"models": listed})


def ollama(loaded: tuple[str, ...] = (MODEL,)) -> Handler:
    """A healthy backend: ``/api/ps`` lists ``loaded``, generations answer ``ANSWER``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/ps":
            return ps_answer(*loaded)
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=ANSWER)

    return handle


def refusing(request: httpx.Request) -> httpx.Response:
    """A backend whose port is closed."""
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def hanging_up(request: httpx.Request) -> httpx.Response:
    """A backend that accepts the connection and closes it without an answer."""
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def proxy_error(request: httpx.Request) -> httpx.Response:
    """A proxy in front of Ollama whose upstream is gone (an HTML 502)."""
    return httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>")


def failing(status: int, message: str = "llama runner process has terminated") -> Handler:
    """A backend that answers every request with ``status``."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": message})

    return handle


class Fleet:
    """Backends at :data:`URLS` whose behaviour the test swaps, on one controllable clock."""

    def __init__(self, count: int, **settings: object) -> None:
        self.clock = ManualClock()
        self.handlers: dict[str, Handler] = {backend_label(u): ollama() for u in URLS[:count]}
        self.hits: Counter[str] = Counter()
        self.settings = Settings(ollama_urls=URLS[:count], **settings)
        transport = httpx.MockTransport(self._handle)
        self.backends = [
            Backend(url, self.settings, transport=transport, clock=self.clock)
            for url in URLS[:count]
        ]
        self.router = Router(self.settings, self.backends, rng=random.Random(15))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        name = f"{request.url.host}:{request.url.port}"
        if request.url.path != "/api/ps":
            self.hits[name] += 1
        return self.handlers[name](request)

    def set(self, index: int, handler: Handler) -> None:
        """Make backend ``index`` behave like ``handler`` from now on."""
        self.handlers[self.backends[index].name] = handler

    async def refresh(self) -> None:
        """Let the router read every backend's ``/api/ps`` (as a pick does in the background)."""
        self.router.pick(MODEL)
        await self.router.settle()


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """Four healthy backends with the model loaded."""
    fleet = Fleet(4)
    await fleet.refresh()
    yield fleet
    await fleet.router.aclose()


async def test_ties_are_broken_at_random_so_idle_backends_share_the_traffic(fleet: Fleet) -> None:
    picks = Counter(str(fleet.router.pick(MODEL)) for _ in range(400))
    assert sorted(picks) == sorted(str(b) for b in fleet.backends)
    assert all(70 <= count <= 130 for count in picks.values()), picks


async def test_the_backend_with_fewest_generations_in_flight_is_picked(fleet: Fleet) -> None:
    for backend in fleet.backends[:3]:
        backend.started()
    assert fleet.router.pick(MODEL) is fleet.backends[3]
    fleet.backends[3].started()
    fleet.backends[3].started()
    assert fleet.router.pick(MODEL) in fleet.backends[:3]
    for backend in fleet.backends:
        backend.finished()
        backend.finished()
        backend.finished()
    assert [b.in_flight for b in fleet.backends] == [0, 0, 0, 0]  # never below zero


async def test_a_backend_with_the_model_loaded_wins_until_it_queues() -> None:
    fleet = Fleet(2, ollama_parallel=1)
    fleet.set(1, ollama(loaded=()))
    await fleet.refresh()
    warm, cold = fleet.backends
    assert {fleet.router.pick(MODEL) for _ in range(20)} == {warm}
    warm.started()
    warm.started()  # two rounds of its one slot: as busy as a cold start
    assert {fleet.router.pick(MODEL) for _ in range(50)} == {warm, cold}
    warm.started()
    assert fleet.router.pick(MODEL) is cold
    await fleet.router.aclose()


async def test_a_refused_connection_ejects_at_once_and_back_off_doubles(fleet: Fleet) -> None:
    backend = fleet.backends[0]
    fleet.set(0, refusing)
    fleet.router.refused(backend)
    assert backend.ejected
    assert backend not in fleet.router.candidates()
    # Each failed probe after the back-off ejects it again for twice as long, up to 60 s.
    for backoff in (5, 10, 20, 40, 60, 60):
        fleet.clock.advance(backoff - 0.1)
        await fleet.refresh()
        assert backend.ejected
        fleet.clock.advance(0.1)
        await fleet.refresh()
        assert backend.ejected, "a failed probe keeps it out"
    fleet.set(0, ollama())
    fleet.clock.advance(60)
    await fleet.refresh()
    assert not backend.ejected
    assert backend in fleet.router.candidates()


async def test_three_consecutive_server_errors_eject_and_a_success_resets_the_count(
    fleet: Fleet,
) -> None:
    backend = fleet.backends[1]
    for _ in range(FAILURES_TO_EJECT - 1):
        fleet.router.server_error(backend, "status_500")
    backend.succeeded()
    for _ in range(FAILURES_TO_EJECT - 1):
        fleet.router.server_error(backend, "status_500")
    assert not backend.ejected
    fleet.router.server_error(backend, "status_500")
    assert backend.ejected


async def test_the_last_backend_in_is_never_ejected(fleet: Fleet) -> None:
    for backend in fleet.backends:
        fleet.router.refused(backend)
    assert [b.ejected for b in fleet.backends] == [True, True, True, False]
    assert fleet.router.candidates() == [fleet.backends[3]]


async def client_of(fleet: Fleet) -> OllamaClient:
    """An OllamaClient over the fleet's router (its backends, transport and clock)."""
    return OllamaClient(fleet.settings, router=fleet.router)


async def answer_of(client: OllamaClient) -> list[str]:
    """The content pieces of one generation."""
    return [
        chunk["message"]["content"]
        async for chunk in client.generate("/api/chat", BODY)
        if not chunk.get("done")
    ]


@pytest.mark.parametrize(
    ("handler", "ejected"),
    [
        pytest.param(refusing, True, id="refused-connection"),
        pytest.param(hanging_up, False, id="closed-before-answering"),
        pytest.param(failing(500), False, id="http-500"),
        pytest.param(proxy_error, False, id="http-502-from-a-proxy"),
        pytest.param(failing(503, "server busy"), False, id="server-busy"),
    ],
)
async def test_a_failure_before_the_answer_is_retried_on_another_backend(
    fleet: Fleet, handler: Handler, ejected: bool
) -> None:
    fleet.set(0, handler)
    fleet.set(1, handler)
    fleet.backends[2].started()  # the failing ones are idler: picked first
    fleet.backends[3].started()
    fleet.backends[3].started()
    client = await client_of(fleet)
    assert await answer_of(client) == ["Hello"]
    assert [fleet.hits[b.name] for b in fleet.backends] == [1, 1, 1, 0]
    assert [b.ejected for b in fleet.backends] == [ejected, ejected, False, False]
    assert [b.in_flight for b in fleet.backends] == [0, 0, 1, 2]


async def test_a_client_error_is_not_retried_and_counts_nothing(fleet: Fleet) -> None:
    for index in range(4):
        fleet.set(index, failing(400, "invalid options"))
    client = await client_of(fleet)
    with pytest.raises(InvalidRequest, match="invalid options"):
        await answer_of(client)
    assert sum(fleet.hits.values()) == 1
    assert all(b.consecutive_failures == 0 for b in fleet.backends)


async def test_when_every_backend_fails_the_client_gets_the_last_error(fleet: Fleet) -> None:
    for index in range(4):
        fleet.set(index, refusing)
    client = await client_of(fleet)
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        await answer_of(client)
    assert sum(fleet.hits.values()) == 3
    assert all(b.in_flight == 0 for b in fleet.backends)


async def test_a_stream_broken_midway_is_not_retried_and_counts_against_the_backend(
    fleet: Fleet,
) -> None:
    def breaks(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield ANSWER.split(b"\n")[0] + b"\n"
            raise httpx.ReadError("connection reset")

        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=body())

    for index in range(4):
        fleet.set(index, breaks)
    client = await client_of(fleet)
    seen: list[str] = []

    async def read_all() -> None:
        async for chunk in client.generate("/api/chat", BODY):
            seen.append(chunk["message"]["content"])

    with pytest.raises(UpstreamError, match="broke in the middle"):
        await read_all()
    assert seen == ["Hello"]
    assert sum(fleet.hits.values()) == 1
    assert sum(b.consecutive_failures for b in fleet.backends) == 1
    assert all(b.in_flight == 0 for b in fleet.backends)


async def test_read_only_calls_keep_a_backend_url_path_and_skip_a_refusing_backend() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        seen.append(str(request.url))
        return httpx.Response(200, json={"models": []})

    settings = Settings(ollama_urls=["http://down:11434", "http://up:11434/prefix"])
    client = OllamaClient(settings, transport=httpx.MockTransport(handle))
    calls = 0
    try:
        # Ties are broken at random: call until the refusing backend has been tried (odds of
        # missing it 64 times are 2^-64), then a few more times while it is ejected.
        while calls < 64 and not client.router.backends[0].ejected:
            assert await client.json("GET", "/api/tags?x=1") == {"models": []}
            calls += 1
        for _ in range(4):
            assert await client.json("GET", "/api/tags?x=1") == {"models": []}
            calls += 1
    finally:
        await client.aclose()
    assert client.router.backends[0].ejected
    assert seen == ["http://up:11434/prefix/api/tags?x=1"] * calls


async def test_a_dead_backend_is_found_by_its_probe_before_a_request_pays(fleet: Fleet) -> None:
    fleet.set(2, refusing)
    fleet.clock.advance(2)  # the loaded models are due to be read again
    await fleet.refresh()
    assert fleet.backends[2].ejected
    assert sum(fleet.hits.values()) == 0


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ("http://a:11434,http://a:11434/", "same URL twice"),
        ("http://a:11434,ftp://b", "URL number 2 does not start with http"),
    ],
)
def test_wrong_backend_urls_stop_the_gateway_at_start(urls: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(ollama_urls=urls)


def test_one_url_is_the_one_backend() -> None:
    assert Settings(ollama_url="http://gpu:11434/").backend_urls == ["http://gpu:11434"]
    assert Settings(ollama_urls=" http://a:1 , http://b:2 ").backend_urls == [
        "http://a:1",
        "http://b:2",
    ]
