"""``POST /api/pull``: a timed progress stream; the model appears in ``/api/tags`` on success.

Stream: ``pulling manifest``; per layer ``pulling <12 hex>`` with ``digest``/``total`` (the model
blob in 10 ``completed`` steps spread over ``pull_seconds``; template, license and params layers
once, complete); ``verifying sha256 digest``; ``writing manifest``; ``success``.
Failures arrive as a final ``{"error": ...}`` line with status 200 (``stream: false``: a 500):
the first ``pull_failures`` pulls fail with ``pull_error`` (a DNS error by default), and a name not
in the ``registry`` knob fails with ``pull model manifest: file does not exist``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from fake_ollama import validation as v
from fake_ollama.asgi import Exchange
from fake_ollama.catalog import digest_of, normalize, spec_for
from fake_ollama.delivery import deliver_whole, pre_stream_fault, stream_lines
from fake_ollama.faults import Fault
from fake_ollama.state import State

PROGRESS_STEPS = 10
_SMALL_LAYERS = (("template", 7240), ("license", 11353), ("params", 18))
NOT_IN_REGISTRY = "pull model manifest: file does not exist"


class _Pull:
    """One pull in progress: the timed status lines, and how it ended."""

    def __init__(self, state: State, ex: Exchange, name: str, seconds: float) -> None:
        self.state, self.ex, self.name, self.seconds = state, ex, name, seconds
        self.error = self._planned_error()

    def _planned_error(self) -> str | None:
        settings = self.state.settings
        if self.state.pull_failures_left > 0:
            self.state.pull_failures_left -= 1
            base, _, tag = self.name.partition(":")
            return settings.pull_error.replace("{name}", base).replace("{tag}", tag)
        if self.name not in {normalize(n) for n in settings.registry}:
            return NOT_IN_REGISTRY
        return None

    async def lines(self) -> AsyncIterator[dict[str, Any]]:
        self.ex.stage = "pulling"
        yield self._sent({"status": "pulling manifest"})
        if self.error:
            return
        size = spec_for(self.name).size
        small_total = sum(n for _, n in _SMALL_LAYERS)
        digest = digest_of(self.name)
        layer = {"status": f"pulling {digest[:12]}", "digest": "sha256:" + digest}
        total = max(size - small_total, 1)
        yield self._sent({**layer, "total": total})
        for step in range(1, PROGRESS_STEPS + 1):
            await asyncio.sleep(self.seconds / PROGRESS_STEPS)
            yield self._sent({**layer, "total": total, "completed": total * step // PROGRESS_STEPS})
        for kind, layer_size in _SMALL_LAYERS:
            small = hashlib.sha256(f"{self.name}/{kind}".encode()).hexdigest()
            status = {"status": f"pulling {small[:12]}", "digest": "sha256:" + small}
            yield self._sent({**status, "total": layer_size, "completed": layer_size})
        yield self._sent({"status": "verifying sha256 digest"})
        yield self._sent({"status": "writing manifest"})

    def _sent(self, line: dict[str, Any]) -> dict[str, Any]:
        self.ex.tokens += 1
        return line

    def final(self) -> dict[str, Any]:
        """Last line: the error, or success (and the model becomes local)."""
        if self.error:
            return {"error": self.error}
        self.state.store.add(self.name)
        return {"status": "success"}


async def pull(ex: Exchange, state: State) -> None:
    """``POST /api/pull``."""
    body = ex.json_object("PullRequest")
    model = ex.model = v.require_model(body, "PullRequest")
    stream = v.stream_flag(body, "PullRequest")
    fault = v.request_fault(ex, model, state)
    if await pre_stream_fault(ex, state, fault, stream):
        return
    settings = state.settings
    seconds = (
        settings.slow_tokens * settings.slow_token_delay
        if fault is Fault.SLOW
        else settings.pull_seconds
    )
    job = _Pull(state, ex, normalize(model), seconds)
    ex.watch_disconnect()
    if stream:
        await stream_lines(ex, state, job.lines(), job.final, fault)
        return
    async for _ in job.lines():
        pass
    result = job.final()
    if "error" in result:
        await ex.send_error(500, result["error"])
    else:
        await deliver_whole(ex, result, fault)
