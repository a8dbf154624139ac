"""Ollama's model management over several backends: each one holds its own models.

* ``/api/pull`` and ``/api/delete`` go to every backend at once (ejected ones too: a model a
  backend misses would fail its requests once it is back). The answer is one backend's answer
  when all of them succeeded, else the first failure's, its message naming the backend. A pull
  then answers when every backend finished (progress lines come at the end, not as they happen).
* ``/api/tags`` and ``/api/ps`` merge every reachable backend's list: a model installed anywhere
  is listed once (``tags``); a model loaded on two backends is listed twice (``ps``), as it
  holds memory on both.

With one backend none of this applies: the routes relay to it byte for byte.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from gateway.errors import ServiceUnavailable
from gateway.upstream.backends import Backend
from gateway.upstream.router import Router

JSON = "application/json"
MERGED_LISTS = ("/api/tags", "/api/ps")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one backend answered (status 0: it could not be reached)."""

    backend: Backend
    status: int
    content_type: str
    body: bytes

    @property
    def error(self) -> str | None:
        """Ollama's error message: of a failed status, or the last NDJSON line of a stream."""
        if self.status == 0:
            return self.body.decode(errors="replace")
        lines = self.body.strip().splitlines()
        try:
            last = orjson.loads(lines[-1]) if lines else None
        except orjson.JSONDecodeError:
            last = None
        message = last.get("error") if isinstance(last, dict) else None
        if isinstance(message, str):
            return message
        return None if self.status < 400 else self.body.decode(errors="replace")[:500]


async def _ask(
    backend: Backend, method: str, path: str, body: bytes | None, seconds: float
) -> Answer:
    """``backend``'s whole answer, waiting at most ``seconds``."""
    headers = {"Content-Type": JSON} if body is not None else {}
    try:
        async with asyncio.timeout(seconds):
            response = await backend.http.request(method, path, content=body, headers=headers)
    except (httpx.HTTPError, TimeoutError) as exc:
        return Answer(backend, 0, JSON, f"not reachable ({type(exc).__name__})".encode())
    return Answer(
        backend, response.status_code, response.headers.get("content-type", JSON), response.content
    )


async def to_every_backend(router: Router, method: str, path: str, body: bytes | None) -> Answer:
    """Send the request to every backend at once (each may take ``GATEWAY_TOTAL_TIMEOUT``);
    the first failure, else the first answer."""
    seconds = router.settings.total_timeout
    answers = await asyncio.gather(*(_ask(b, method, path, body, seconds) for b in router.backends))
    for answer in answers:
        if (message := answer.error) is not None:
            return _naming_backend(answer, message)
    return answers[0]


def _naming_backend(answer: Answer, message: str) -> Answer:
    """``answer`` whose error message says which backend failed (host:port, never the URL)."""
    named = orjson.dumps({"error": f"Ollama backend {answer.backend.name}: {message}"})
    if answer.status == 0:
        return Answer(answer.backend, 502, JSON, named)
    lines = answer.body.strip().splitlines()
    body = b"\n".join([*lines[:-1], named]) + b"\n"
    return Answer(answer.backend, answer.status, answer.content_type, body)


async def merged_list(router: Router, path: str) -> dict[str, Any]:
    """``/api/tags`` or ``/api/ps`` of every reachable backend as one ``{"models": [...]}``.

    Each backend may take ``GATEWAY_CHUNK_TIMEOUT``. Raises :class:`ServiceUnavailable` when no
    backend answered.
    """
    seconds = router.settings.chunk_timeout
    answers = await asyncio.gather(*(_ask(b, "GET", path, None, seconds) for b in router.backends))
    models: list[dict[str, Any]] = []
    seen: set[str] = set()
    answered = False
    for answer in answers:
        if answer.status != 200:
            continue
        try:
            listed = orjson.loads(answer.body).get("models")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        answered = True
        for entry in listed if isinstance(listed, list) else []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if path == "/api/tags" and (name in seen or not isinstance(name, str)):
                continue
            seen.add(str(name))
            models.append(entry)
    if not answered:
        raise ServiceUnavailable(
            f"No Ollama backend answered {path}; they may be starting or down. Retry in "
            f"{router.settings.retry_after_seconds} s; operators: see /health/ready.",
            retry_after=router.settings.retry_after_seconds,
            code="ollama_unavailable",
        )
    return {"models": models}
