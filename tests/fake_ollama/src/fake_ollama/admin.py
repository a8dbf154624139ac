"""Test/admin endpoints under ``/_fake/`` (not part of Ollama's API).

* ``GET /_fake/requests[?path=/api/chat&limit=N]``: recent requests, oldest first: ``seq``,
  ``time``, ``method``, ``path``, ``query``, ``headers`` (lower-case names), ``request_id``,
  ``body`` (parsed JSON or null; ``body_text`` when not JSON), ``status``, ``cancelled``,
  ``duration_ms``.
* ``GET /_fake/cancelled``: requests whose client went away first: ``path``, ``model``,
  ``request_id``, ``stage`` (queued/loading/generating/pulling/hang...), ``tokens_emitted``.
* ``GET /_fake/stats``: ``generations_in_flight`` (queued or running now),
  ``peak_generations_in_flight`` (most at once since the last reset), ``generations_total``.
* ``POST /_fake/reset``: start-up settings and models, empty logs.
* ``GET /_fake/config`` / ``POST /_fake/config {"knob": value, ...}``: read / change knobs.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fake_ollama.asgi import Exchange, HTTPError
from fake_ollama.config import ConfigError
from fake_ollama.state import State


async def requests(ex: Exchange, state: State) -> None:
    """``GET /_fake/requests``."""
    query = parse_qs(ex.query)
    entries = list(state.requests)
    if path := query.get("path", [""])[0]:
        entries = [e for e in entries if e["path"] == path]
    if limit := query.get("limit", [""])[0]:
        if not limit.isdigit():
            raise HTTPError(400, "limit must be a non-negative integer")
        entries = entries[-int(limit) :] if int(limit) else []
    await ex.send_json(200, {"requests": entries})


async def cancelled(ex: Exchange, state: State) -> None:
    """``GET /_fake/cancelled``."""
    await ex.send_json(200, {"cancelled": list(state.cancelled)})


async def stats(ex: Exchange, state: State) -> None:
    """``GET /_fake/stats``."""
    count = state.generations
    await ex.send_json(
        200,
        {
            "generations_in_flight": count.in_flight,
            "peak_generations_in_flight": count.peak,
            "generations_total": count.total,
        },
    )


async def reset(ex: Exchange, state: State) -> None:
    """``POST /_fake/reset``."""
    state.reset()
    await ex.send_json(200, {"status": "reset"})


async def config(ex: Exchange, state: State) -> None:
    """``GET|POST /_fake/config``."""
    if ex.method == "POST":
        changes = ex.json_object("FakeConfig")
        try:
            state.apply(state.settings.updated(changes))
        except ConfigError as exc:
            raise HTTPError(400, str(exc)) from None
    await ex.send_json(200, state.settings.to_json())
