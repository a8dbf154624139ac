"""Send one hostile case, judge the answer, then prove the server still serves an innocent request.

Shared by the direct harness (``tests/unit/gateway/test_hostile_requests.py``) and the one
through nginx (``tests/e2e/test_hostile_requests.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.support.hostile import Case, innocent_request, judge
from tests.support.rawhttp import Outcome, RawConnection, RawResponse, request_bytes

# Per exchange; generous (2 busy cores), and still bounded: a hang is reported, never waited out.
EXCHANGE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Target:
    """Where to send: address, the ``Host`` header value and a valid key."""

    host: str
    port: int
    key: str

    @classmethod
    def from_url(cls, url: str, key: str) -> Target:
        """The target behind ``http://host:port``."""
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"not an http://host:port URL: {url}")
        return cls(parts.hostname, parts.port, key)

    @property
    def host_header(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def connect(self) -> RawConnection:
        """A new connection."""
        return RawConnection(self.host, self.port)


def run_case(case: Case, target: Target, *, direct: bool) -> list[str]:
    """Send ``case``; return every problem with its answer and with the innocent request after it.

    The innocent request (``GET /v1/models``) goes on the same keep-alive connection when that is
    still open, else on a new one; either way it must get a 200.
    """
    with target.connect() as conn:
        outcome = conn.exchange(
            case.request(target.host_header, target.key),
            case.response_method,
            timeout=EXCHANGE_TIMEOUT,
            half_close=case.half_close,
        )
        problems = judge(case, outcome, direct=direct)
        reuse = (
            outcome.response is not None
            and not outcome.response.closes
            and not outcome.server_closed
            and outcome.sent_all
            and not case.expect.fresh_connection
            and conn.usable
        )
        if reuse:
            follow = conn.exchange(
                innocent_request(target.host_header, target.key), "GET", timeout=EXCHANGE_TIMEOUT
            )
            where = "the same keep-alive connection"
        else:
            follow = innocent(target)
            where = "a new connection"
    if follow.response is None or follow.response.status != 200:
        problems.append(f"innocent GET /v1/models on {where} afterwards: {follow.summary()}")
    return problems


def innocent(target: Target) -> Outcome:
    """``GET /v1/models`` with the valid key on a new connection."""
    with target.connect() as conn:
        return conn.exchange(
            innocent_request(target.host_header, target.key), "GET", timeout=EXCHANGE_TIMEOUT
        )


def get(target: Target, path: str, *, key: bool = False) -> RawResponse | None:
    """A plain GET on a new connection (None when there was no answer)."""
    headers = [(b"Host", target.host_header.encode())]
    if key:
        headers.append((b"Authorization", f"Bearer {target.key}".encode()))
    with target.connect() as conn:
        return conn.exchange(
            request_bytes("GET", path, headers), "GET", timeout=EXCHANGE_TIMEOUT
        ).response


def chat(target: Target, model: str) -> RawResponse | None:
    """One small non-streaming chat completion on a new connection."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "ping"}]}).encode()
    headers = [
        (b"Host", target.host_header.encode()),
        (b"Authorization", f"Bearer {target.key}".encode()),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    with target.connect() as conn:
        request = request_bytes("POST", "/v1/chat/completions", headers, body)
        return conn.exchange(request, "POST", timeout=EXCHANGE_TIMEOUT).response


def healthy_after(target: Target, model: str, *, timeout: float = 60.0) -> list[str]:
    """Problems with the server's health after the corpus: ready (200) and a chat that works.

    Polls (bounded) so a worker that is being restarted gets its chance to come back.
    """
    deadline = time.monotonic() + timeout
    problems: list[str] = ["not checked"]
    while time.monotonic() < deadline:
        problems = []
        ready = get(target, "/health/ready")
        if ready is None or ready.status != 200:
            problems.append(f"/health/ready: {ready.summary() if ready else 'no answer'}")
        answer = chat(target, model)
        if answer is None or answer.status != 200:
            problems.append(f"chat: {answer.summary() if answer else 'no answer'}")
        elif not json.loads(answer.body)["choices"][0]["message"]["content"]:
            problems.append("chat: empty content")
        if not problems:
            return []
        time.sleep(1.0)
    return problems
