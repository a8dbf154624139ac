"""Continuous keep-alive load for the "no request is ever failed" tests and measurements.

``clients`` concurrent clients, each with exactly one keep-alive connection (an
``httpx.AsyncClient`` limited to one connection), send chat completions back to back; every
``stream_every``-th request of a client is a streamed one, which counts as answered only when the
whole event stream arrived (``data: [DONE]``). Nothing is retried: a request either gets its full
200 answer or is a failure, counted by cause (``status 502``, ``ReadError``, ``incomplete
stream`` ...). Every request carries its own ``X-Request-ID`` (``load-<run>-<n>``, unique across
runs), so a test can look each one up in the fake Ollama's request log (e.g. to show that none
ran twice).

The load runs on an event loop in a background thread, so a test can recycle, reload or upgrade
the server while it runs::

    with running_load(url, key, clients=8) as load:
        ...  # disturb the server
    result = load.result   # after the block: every client stopped, every request accounted for

or from the shell (the measurement in the README)::

    python -m tests.support.load --url http://127.0.0.1:8000 --key sk-... --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

MODEL = "gpt-oss:20b"
REQUEST_TIMEOUT = 120.0
"""Seconds one request may take before it counts as failed (generous: a busy machine)."""


@dataclass
class LoadResult:
    """What the clients saw: answered and failed requests, and why they failed."""

    answered: int = 0
    streams_answered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)
    """The ``X-Request-ID`` of every request sent (answered or not), in sending order."""
    answered_chat_ids: list[str] = field(default_factory=list)
    """The ``X-Request-ID`` of every answered request (each ran one generation)."""
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Requests that did not get their complete 200 answer."""
        return sum(self.failures.values())

    @property
    def sent(self) -> int:
        """Requests sent (answered + failed)."""
        return self.answered + self.failed

    def summary(self) -> str:
        """One line for logs and assertion messages."""
        causes = ", ".join(f"{cause}: {n}" for cause, n in self.failures.most_common()) or "none"
        return (
            f"{self.sent} requests in {self.seconds:.0f} s, {self.answered} answered "
            f"({self.streams_answered} streams), {self.failed} failed ({causes})"
        )


class Load:
    """Keep-alive clients sending chats and streams to ``base_url`` until :meth:`stop`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        clients: int = 8,
        stream_every: int = 4,
        model: str = MODEL,
        max_requests: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.clients = clients
        self.stream_every = stream_every
        self.model = model
        self.max_requests = max_requests
        self.result = LoadResult()
        self.id_prefix = f"load-{secrets.token_hex(4)}-"
        self._ids = itertools.count()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    # ---- control (any thread) --------------------------------------------------------------
    def start(self) -> None:
        """Start the clients on an event loop in a background thread."""
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = REQUEST_TIMEOUT + 30) -> LoadResult:
        """Let every client finish the request it is in, then return the result."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the load clients did not stop")
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def wait_for_answers(self, count: int, timeout: float) -> None:
        """Block until ``count`` more requests were answered (or fail after ``timeout`` s)."""
        target = self.result.answered + count
        deadline = time.monotonic() + timeout
        while self.result.answered < target:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the load did not get {count} answers within {timeout:g} s: "
                    f"{self.result.summary()}"
                )
            if self._thread is not None and not self._thread.is_alive():
                raise AssertionError(f"the load stopped early: {self.result.summary()}")
            time.sleep(0.05)

    # ---- the clients (the load's own thread) ---------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        await asyncio.gather(*(self._client(n) for n in range(self.clients)))

    def _more(self) -> bool:
        if self._stopping.is_set():
            return False
        return self.max_requests is None or self.result.sent < self.max_requests

    async def _client(self, number: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=30.0)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, limits=limits, timeout=timeout
        ) as client:
            for turn in itertools.count(number):
                if not self._more():
                    return
                stream = self.stream_every > 0 and turn % self.stream_every == 0
                await self._one(client, stream=stream)

    async def _one(self, client: httpx.AsyncClient, *, stream: bool) -> None:
        request_id = f"{self.id_prefix}{next(self._ids)}"
        self.result.request_ids.append(request_id)
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": f"request {request_id}"}],
            "stream": stream,
        }
        headers = {"X-Request-ID": request_id}
        try:
            if stream:
                failure = await self._streamed(client, body, headers)
            else:
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
                failure = _chat_failure(response)
        except httpx.HTTPError as exc:
            failure = type(exc).__name__
        if failure is None:
            self.result.answered += 1
            self.result.streams_answered += stream
            self.result.answered_chat_ids.append(request_id)
        else:
            self.result.failures[failure] += 1

    @staticmethod
    async def _streamed(
        client: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]
    ) -> str | None:
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers=headers
        ) as response:
            if response.status_code != 200:
                await response.aread()
                return f"status {response.status_code}"
            text = "".join([chunk async for chunk in response.aiter_text()])
        return None if text.rstrip().endswith("data: [DONE]") else "incomplete stream"


def _chat_failure(response: httpx.Response) -> str | None:
    """Why a non-streamed answer is not a complete chat completion (None: it is)."""
    if response.status_code != 200:
        return f"status {response.status_code}"
    try:
        choices = response.json()["choices"]
    except (ValueError, KeyError):
        return "malformed body"
    return None if choices and choices[0]["message"] is not None else "malformed body"


@contextmanager
def running_load(base_url: str, api_key: str, **options: object) -> Iterator[Load]:
    """Run a :class:`Load` for the duration of the block; it is stopped however the block ends."""
    load = Load(base_url, api_key, **options)  # type: ignore[arg-type]
    load.start()
    try:
        yield load
    finally:
        load.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.load``: run the load for a while, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True, help="base URL (gateway or nginx)")
    parser.add_argument("--key", required=True, help="API key")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stream-every", type=int, default=4, help="0: chats only")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args(argv)
    load = Load(
        args.url, args.key, clients=args.clients, stream_every=args.stream_every, model=args.model
    )
    load.start()
    time.sleep(args.seconds)
    result = load.stop()
    print(result.summary(), file=sys.stderr)
    report = {
        "sent": result.sent,
        "answered": result.answered,
        "streams_answered": result.streams_answered,
        "failed": result.failed,
        "failures": dict(result.failures),
        "seconds": round(result.seconds, 1),
    }
    print(json.dumps(report))
    return 0 if result.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
