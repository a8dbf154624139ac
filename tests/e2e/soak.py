"""Mixed traffic for the soak test: every public kind of request, paced, each answer checked.

Each client thread sends the kinds of :data:`KINDS` in turn (starting at a different one), at
most one request every ``interval`` seconds; a scraper thread reads ``/metrics`` every few seconds
as Prometheus would. An answer is an error unless it is complete and well formed (a stream must
reach its proper end). Everything is bounded by a deadline and a request count.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.e2e.traffic import CLIENT_TIMEOUT, HI, PUBLIC_MODEL, auth

NATIVE_MODEL = "gpt-oss:20b"
# gpt-oss is no embedding model (Ollama answers 501): the soak pulls this one first.
EMBEDDING_MODEL = "nomic-embed-text"
SCRAPE_EVERY = 5.0
MAX_REQUESTS_PER_CLIENT = 1_000_000
KEPT_ERRORS = 20


def _lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.strip()]


def _chat(http: httpx.Client) -> str | None:
    answer = http.post("/v1/chat/completions", json={"model": PUBLIC_MODEL, "messages": HI})
    if answer.status_code != 200:
        return f"{answer.status_code} {answer.text[:200]}"
    reply = answer.json()
    if not reply["choices"][0]["message"]["content"] or not reply["usage"]["completion_tokens"]:
        return f"empty answer: {answer.text[:200]}"
    return None


def _chat_stream(http: httpx.Client) -> str | None:
    body = {
        "model": PUBLIC_MODEL,
        "messages": HI,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    answer = http.post("/v1/chat/completions", json=body)
    lines = _lines(answer.text)
    if answer.status_code != 200 or not lines or lines[-1] != "data: [DONE]":
        return f"{answer.status_code} stream did not end with [DONE]: {answer.text[-200:]}"
    if any('"error"' in line for line in lines):
        return f"error event: {answer.text[-200:]}"
    usage = json.loads(lines[-2][len("data: ") :]).get("usage") or {}
    return None if usage.get("completion_tokens") else f"no usage chunk: {lines[-2][:200]}"


def _responses(http: httpx.Client) -> str | None:
    answer = http.post("/v1/responses", json={"model": PUBLIC_MODEL, "input": "hi"})
    if answer.status_code != 200 or answer.json().get("status") != "completed":
        return f"{answer.status_code} {answer.text[:200]}"
    kinds = [item["type"] for item in answer.json()["output"]]
    return None if "message" in kinds else f"no message item: {kinds}"


def _responses_stream(http: httpx.Client) -> str | None:
    body = {"model": PUBLIC_MODEL, "input": "hi", "stream": True}
    answer = http.post("/v1/responses", json=body)
    lines = _lines(answer.text)
    if answer.status_code != 200 or "event: response.completed" not in lines[-2:]:
        return f"{answer.status_code} no response.completed: {answer.text[-200:]}"
    return None


def _embeddings(http: httpx.Client) -> str | None:
    body = {"model": EMBEDDING_MODEL, "input": ["first text", "second text"]}
    answer = http.post("/v1/embeddings", json=body)
    if answer.status_code != 200:
        return f"{answer.status_code} {answer.text[:200]}"
    vectors = [item["embedding"] for item in answer.json()["data"]]
    return None if len(vectors) == 2 and all(vectors) else f"bad vectors: {answer.text[:200]}"


def _native_chat(http: httpx.Client) -> str | None:
    body = {"model": NATIVE_MODEL, "messages": HI, "stream": False}
    answer = http.post("/api/chat", json=body)
    if answer.status_code != 200:
        return f"{answer.status_code} {answer.text[:200]}"
    reply = answer.json()
    return None if reply.get("done") and reply["message"]["content"] else f"bad: {reply}"


def _native_stream(http: httpx.Client) -> str | None:
    answer = http.post("/api/chat", json={"model": NATIVE_MODEL, "messages": HI})
    lines = _lines(answer.text)
    if answer.status_code != 200 or not lines or json.loads(lines[-1]).get("done") is not True:
        return f"{answer.status_code} no final line: {answer.text[-200:]}"
    return None


KINDS: dict[str, Callable[[httpx.Client], str | None]] = {
    "chat": _chat,
    "chat stream": _chat_stream,
    "responses": _responses,
    "responses stream": _responses_stream,
    "embeddings": _embeddings,
    "native chat": _native_chat,
    "native chat stream": _native_stream,
}


@dataclass
class Tally:
    """What a soak run did: requests and errors by kind, a few error samples."""

    seconds: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Requests sent (scrapes included)."""
        return sum(self.requests.values())

    @property
    def failed(self) -> int:
        """Requests that did not get a complete, well-formed answer."""
        return sum(self.errors.values())


class Soak:
    """``clients`` paced client threads and one metrics scraper, for ``seconds`` each run."""

    def __init__(self, url: str, key: str, metrics_token: str, *, clients: int, interval: float):
        self.url = url
        self.key = key
        self.metrics_token = metrics_token
        self.clients = clients
        self.interval = interval

    def run(self, seconds: float) -> Tally:
        """Send the mix for ``seconds`` and return the tally (blocks)."""
        tally = Tally()
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def note(kind: str, error: str | None) -> None:
            with lock:
                tally.requests[kind] += 1
                if error is not None:
                    tally.errors[kind] += 1
                    if len(tally.samples) < KEPT_ERRORS:
                        tally.samples.append(f"{kind}: {error}")

        threads = [
            threading.Thread(target=self._client, args=(i, deadline, note), daemon=True)
            for i in range(self.clients)
        ]
        threads.append(threading.Thread(target=self._scraper, args=(deadline, note), daemon=True))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + CLIENT_TIMEOUT + 30)
        tally.seconds = time.monotonic() - started
        return tally

    def _client(self, index: int, deadline: float, note: Callable[[str, str | None], None]) -> None:
        kinds = list(KINDS.items())
        due = time.monotonic()
        with httpx.Client(
            base_url=self.url, headers=auth(self.key), timeout=CLIENT_TIMEOUT
        ) as http:
            sent = 0
            while sent < MAX_REQUESTS_PER_CLIENT:
                now = time.monotonic()
                if now >= deadline:
                    return
                if due > now:
                    time.sleep(min(due - now, deadline - now))
                    continue
                due = max(due + self.interval, now)  # no burst to catch up after a slow answer
                kind, call = kinds[(index + sent) % len(kinds)]
                sent += 1
                try:
                    note(kind, call(http))
                except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                    note(kind, repr(exc)[:200])

    def _scraper(self, deadline: float, note: Callable[[str, str | None], None]) -> None:
        headers = auth(self.metrics_token)
        with httpx.Client(base_url=self.url, headers=headers, timeout=CLIENT_TIMEOUT) as http:
            while time.monotonic() + SCRAPE_EVERY < deadline:
                time.sleep(SCRAPE_EVERY)
                try:
                    answer = http.get("/metrics")
                    ok = answer.status_code == 200 and "gateway_http_requests_total" in answer.text
                    note("metrics scrape", None if ok else f"{answer.status_code}")
                except httpx.HTTPError as exc:
                    note("metrics scrape", repr(exc)[:200])
