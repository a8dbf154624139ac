"""Client-side tools of the fault and soak tests: recorded streams, background load, the mixed
traffic of the soak, and what the stack tells about a request afterwards (metrics, access log,
the fake Ollama's own records).

Everything goes to nginx's published 127.0.0.1 port, or into the project's own containers with
``docker exec``. Every loop is bounded in time and count.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import Stack

# A request that should be answered at once gets this long on a busy machine before it counts
# as hanging.
CLIENT_TIMEOUT = 60.0
PUBLIC_MODEL = "gpt-oss-20b"
HI = [{"role": "user", "content": "hi"}]


def auth(key: str) -> dict[str, str]:
    """The bearer header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


# ---- requests through nginx ---------------------------------------------------------------


def post(
    stack: Stack, key: str, path: str, body: dict[str, Any], timeout: float = CLIENT_TIMEOUT
) -> httpx.Response:
    """POST through nginx and read the whole answer; no answer at all becomes a 599."""
    return request(stack, "POST", path, key, body, timeout)


def get(stack: Stack, path: str, key: str | None = None) -> httpx.Response:
    """GET through nginx; no answer at all becomes a 599."""
    return request(stack, "GET", path, key)


def request(
    stack: Stack,
    method: str,
    path: str,
    key: str | None,
    body: dict[str, Any] | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> httpx.Response:
    """One request through nginx; nginx not there (restarting, port not published yet) or a
    transport error gives a 599 for the caller to poll on."""
    headers = auth(key) if key else {}
    try:
        url = f"{stack.base_url}{path}"
    except (KeyError, IndexError, AssertionError, subprocess.CalledProcessError) as exc:
        return httpx.Response(599, text=f"nginx has no published port: {exc!r}")
    try:
        return httpx.request(method, url, json=body, headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        return httpx.Response(599, text=f"transport error: {exc!r}")


def new_key(stack: Stack, prefix: str, *limits: str) -> tuple[str, str]:
    """``(name, key)`` of a new key (``gateway keys create``), once every worker accepts it."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    key = stack.create_key(name, *limits)

    def accepted() -> bool:
        return get(stack, "/v1/models", key).status_code == 200

    # Every worker must know it: a few answers in a row, each from whichever worker nginx picks.
    wait_for(lambda: all(accepted() for _ in range(4)), timeout=60, what=f"key {name} loaded")
    return name, key


# ---- one recorded stream ----------------------------------------------------------------------

DONE = "done"  # the stream's proper end: [DONE], response.completed, a final done line
ERROR_EVENT = "error_event"  # an error the protocol carries: data {"error"}, response.failed...
BROKEN = "broken"  # the connection broke: the client's HTTP library raises
HTTP_ERROR = "http_error"  # no stream at all: an error status before the first byte
TRUNCATED = "truncated"  # ended cleanly without any of the above: a silent, misleading end


def parse_line(line: str) -> tuple[str, Any] | None:
    """One line of an SSE or NDJSON body as ``(kind, payload)``; None for blank/comment lines.

    kinds: ``event`` (an SSE ``event:`` name), ``data`` (SSE data, JSON or ``[DONE]``), ``json``.
    """
    if not line or line.startswith(":"):
        return None
    if line.startswith("event:"):
        return "event", line[len("event:") :].strip()
    if line.startswith("data:"):
        data = line[len("data:") :].strip()
        return "data", data if data == "[DONE]" else json.loads(data)
    return "json", json.loads(line)


def carries_token(payload: Any) -> bool:
    """True when a stream object carries generated text (one token of the fake)."""
    if not isinstance(payload, dict):
        return False
    if payload.get("choices"):  # chat.completion.chunk
        delta = payload["choices"][0].get("delta") or {}
        return bool(delta.get("content") or delta.get("reasoning"))
    if str(payload.get("type", "")).endswith(("output_text.delta", "reasoning_text.delta")):
        return True  # Responses API
    message = payload.get("message") or {}
    if payload.get("done") is False:  # Ollama's native chat / generate
        return bool(message.get("content") or message.get("thinking") or payload.get("response"))
    return False


def ending_of(payload: Any, event: str | None) -> str | None:
    """How a stream object ends the stream (``DONE``, ``ERROR_EVENT``), or None."""
    if payload == "[DONE]" or event == "response.completed":
        return DONE
    if event == "response.failed":
        return ERROR_EVENT
    if isinstance(payload, dict):
        if "error" in payload and event is None:
            return ERROR_EVENT
        if payload.get("done") is True:
            return DONE
    return None


class RecordedStream(threading.Thread):
    """A streamed POST read in a thread, each line noted with its arrival time."""

    def __init__(self, url: str, body: dict[str, Any], key: str, request_id: str) -> None:
        super().__init__(name=f"stream-{request_id}", daemon=True)
        self.url = url
        self.body = body
        self.key = key
        self.request_id = request_id
        self.status: int | None = None
        self.error: BaseException | None = None
        self.text = ""  # the body of a non-200 answer
        self.items: list[tuple[float, str, Any]] = []  # (arrival, kind, payload)
        self.ended_at: float | None = None
        self._token_count = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        """Send the request and read the answer to its end (or failure)."""
        headers = {**auth(self.key), "X-Request-ID": self.request_id}
        try:
            with httpx.stream(
                "POST", self.url, json=self.body, headers=headers, timeout=CLIENT_TIMEOUT
            ) as answer:
                self.status = answer.status_code
                if answer.status_code != 200:
                    self.text = answer.read().decode(errors="replace")
                    return
                for line in answer.iter_lines():
                    parsed = parse_line(line)
                    if parsed is not None:
                        self._note(*parsed)
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    def _note(self, kind: str, payload: Any) -> None:
        with self._lock:
            self.items.append((time.monotonic(), kind, payload))
            if carries_token(payload):
                self._token_count += 1

    @property
    def tokens(self) -> int:
        """Token-carrying objects received so far."""
        with self._lock:
            return self._token_count

    @property
    def ending(self) -> str:
        """How the stream ended (call once it is over)."""
        if self.status is not None and self.status != 200:
            return HTTP_ERROR
        if self.error is not None:
            return BROKEN
        event = self.items[-2][2] if len(self.items) > 1 and self.items[-2][1] == "event" else None
        return ending_of(self.last, event) or TRUNCATED

    @property
    def last(self) -> Any:
        """The last object received (not an SSE event name)."""
        return next((p for _, kind, p in reversed(self.items) if kind != "event"), None)

    def end_seconds_after(self, moment: float) -> float:
        """Seconds from ``moment`` to the end of the stream (its last line or its failure)."""
        assert self.ended_at is not None, "the stream is still running"
        return self.ended_at - moment


# ---- background load --------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request of a :class:`Load`."""

    started: float
    ended: float
    stream: bool
    status: int | None  # None: no HTTP answer (transport error or timeout)
    content_type: str = ""
    body: str = ""
    complete: bool = False  # a 200 answer that was whole ([DONE] for a stream)
    error: str = ""


@dataclass
class Load:
    """``clients`` threads sending chat requests (plain and streamed, alternately) until stopped."""

    url: str
    key: str
    clients: int = 4
    max_seconds: float = 300.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.clients)
        ]

    def __enter__(self) -> Load:
        """Start the clients."""
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the clients and wait for their last request."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 30)

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far."""
        with self._lock:
            return list(self.outcomes)

    def _client(self, index: int) -> None:
        give_up = time.monotonic() + self.max_seconds
        stream = bool(index % 2)
        with httpx.Client(headers=auth(self.key), timeout=CLIENT_TIMEOUT) as http:
            while not self._stop.is_set() and time.monotonic() < give_up:
                outcome = self._one(http, stream)
                with self._lock:
                    self.outcomes.append(outcome)
                stream = not stream
                if outcome.status != 200:
                    time.sleep(0.2)  # no hot loop against an error page

    def _one(self, http: httpx.Client, stream: bool) -> Outcome:
        body = {"model": PUBLIC_MODEL, "messages": HI, "stream": stream}
        started = time.monotonic()
        outcome = Outcome(started, started, stream, None)
        try:
            with http.stream("POST", f"{self.url}/v1/chat/completions", json=body) as answer:
                outcome.status = answer.status_code
                outcome.content_type = answer.headers.get("content-type", "")
                outcome.body = answer.read().decode(errors="replace")
        except httpx.HTTPError as exc:
            outcome.error = repr(exc)
        outcome.ended = time.monotonic()
        if outcome.status == 200:
            outcome.complete = (
                outcome.body.rstrip().endswith("data: [DONE]")
                if stream
                else bool(json.loads(outcome.body)["choices"][0]["message"]["content"])
            )
        return outcome


# ---- what the stack says afterwards -----------------------------------------------------------


def scrape(stack: Stack, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` through nginx: ``{(sample name, sorted labels): value}``."""
    answer = httpx.get(f"{stack.base_url}/metrics", headers=auth(token), timeout=CLIENT_TIMEOUT)
    answer.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def metric(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and wanted <= set(sample_labels)
    )


def access_log_lines(stack: Stack, tail: int = 3000) -> Iterator[dict[str, Any]]:
    """The gateway's access log entries (JSON) among its last ``tail`` log lines."""
    for line in stack.logs("gateway", tail=tail).splitlines():
        start = line.find("{")
        if start < 0 or '"gateway.access"' not in line:
            continue
        try:
            entry = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            yield entry


def access_log_entry(stack: Stack, request_id: str) -> dict[str, Any] | None:
    """The access log entry of ``request_id`` (None when it is not written yet)."""
    return next((e for e in access_log_lines(stack) if e.get("request_id") == request_id), None)


FAKE_ADMIN = """
import json, sys, urllib.request
method, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
request = urllib.request.Request(
    "http://127.0.0.1:11434" + path, method=method, data=body.encode() or None,
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as answer:
    print(answer.read().decode())
"""


def fake_admin(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the fake Ollama's ``/_fake/*`` admin API from inside its own container."""
    payload = json.dumps(body) if body is not None else ""
    answer = stack.exec("ollama", "python", "-c", FAKE_ADMIN, method, path, payload)
    return json.loads(answer.stdout)


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        time.sleep(every)
