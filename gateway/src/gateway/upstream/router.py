"""Which Ollama backend serves a request: the least busy one that has the model loaded.

Each pick scores the backends that are in (not ejected)::

    score = generations in flight + (0 if the model is loaded there else COLD_PENALTY)
            + (BUSY_PENALTY if it answered "server busy" within the last second)

and takes the lowest, breaking ties uniformly at random (never by list order, which would pile
every idle moment onto the first backend). ``COLD_PENALTY`` is two rounds of Ollama's parallel
slots, so a warm backend is preferred until it queues and a cold one is used after that. The
loaded models come from each backend's ``/api/ps``, re-read in the background when older than
:data:`LOADED_CACHE_SECONDS`; an ejected backend whose back-off is over is probed the same way
and readmitted when it answers. If every backend is ejected (the last one never is; see
:mod:`gateway.upstream.backends`), all of them are candidates again: better a try than a
certain 503.

Generations in flight are counted across every worker and replica when the rate limits live in
Redis (:mod:`gateway.upstream.inflight_redis`: the pick and the count are one Lua script), else
in this worker; read-only calls pick by this worker's counts (no round trip). If Redis fails, the
pick falls back to this worker's counts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import orjson

from gateway.settings import Settings, with_tag
from gateway.upstream.backends import Backend
from gateway.upstream.inflight_redis import CountsUnavailable, SharedInFlight

log = logging.getLogger("gateway.router")

LOADED_CACHE_SECONDS = 2.0
"""Age after which a backend's loaded models (``/api/ps``) are read again."""
COLD_ROUNDS = 2
"""A backend without the model loaded counts as this many rounds of parallel slots busier."""
BUSY_PENALTY = 10
"""Extra score of a backend that answered "server busy" within the last second."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A generation counted in flight on ``backend`` (``lease``: its count in Redis, if any)."""

    backend: Backend
    lease: str | None


def loaded_models(raw: bytes) -> frozenset[str] | None:
    """The names in an ``/api/ps`` answer (with ``:latest`` when untagged); None if unreadable."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return None
    return frozenset(
        with_tag(entry[field])
        for entry in models
        if isinstance(entry, dict)
        for field in ("name", "model")
        if isinstance(entry.get(field), str)
    )


class Router:
    """Picks a backend per request and keeps the backends' loaded models and health current."""

    def __init__(
        self,
        settings: Settings,
        backends: Sequence[Backend],
        *,
        rng: random.Random | None = None,
        shared: SharedInFlight | None = None,
    ) -> None:
        if not backends:
            raise ValueError("the router needs at least one Ollama backend")
        self.settings = settings
        self.backends = list(backends)
        self.rng = rng or random.SystemRandom()
        self.shared = shared
        self.cold_penalty = COLD_ROUNDS * max(1, settings.ollama_parallel)
        self._refreshing: dict[Backend, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def several(self) -> bool:
        """True when there is more than one backend to route over."""
        return len(self.backends) > 1

    def candidates(self, avoid: Iterable[Backend] = ()) -> list[Backend]:
        """The backends a request may go to, less ``avoid`` (those it already tried).

        The backends that are in; all of them when every one is ejected (panic).
        """
        tried = set(avoid)
        live = [b for b in self.backends if not b.ejected] or self.backends
        return [b for b in live if b not in tried]

    def pick(self, model: str | None, avoid: Iterable[Backend] = ()) -> Backend | None:
        """The candidate with the lowest score for ``model`` (random among equals), or None.

        Scored by this worker's counts; nothing is counted (see :meth:`claim`).
        """
        self._refresh_due()
        candidates = self.candidates(avoid)
        return self._lowest(candidates, model) if candidates else None

    def _lowest(self, candidates: Sequence[Backend], model: str | None) -> Backend:
        if len(candidates) == 1:
            return candidates[0]
        wanted = with_tag(model) if model else None
        scores = [self._score(b, wanted) for b in candidates]
        lowest = min(scores)
        return self.rng.choice([b for b, s in zip(candidates, scores, strict=True) if s == lowest])

    async def claim(self, model: str | None, avoid: Iterable[Backend] = ()) -> Claim | None:
        """Pick a backend for a generation of ``model`` and count it in flight there (in Redis
        when the counts are shared); None when no candidate is left. End it with
        :meth:`release`."""
        self._refresh_due()
        candidates = self.candidates(avoid)
        if not candidates:
            return None
        claim = Claim(self._lowest(candidates, model), None)
        if self.shared is not None and len(candidates) > 1:
            order = self.rng.sample(candidates, len(candidates))  # ties go to the first
            wanted = with_tag(model) if model else None
            penalties = [self._score(b, wanted) - b.in_flight for b in order]
            try:
                shared = await self.shared.claim([b.url for b in order], penalties)
            except CountsUnavailable as exc:
                shared = None
                log.warning(
                    "shared in-flight counts unreachable: picking by this worker's counts for 1 s",
                    extra={"error": str(exc)},
                )
            if shared is not None:
                claim = Claim(order[shared[0]], shared[1])
        claim.backend.started()
        return claim

    def release(self, claim: Claim) -> None:
        """The generation of ``claim`` ended (however it ended)."""
        claim.backend.finished()
        if self.shared is not None and claim.lease is not None:
            # In the background: the generation may be ending in a cancelled task.
            self.spawn(self._release_shared(self.shared, claim.backend, claim.lease))

    @staticmethod
    async def _release_shared(shared: SharedInFlight, backend: Backend, lease: str) -> None:
        try:
            await shared.release(backend.url, lease)
        except CountsUnavailable as exc:  # the lease expires by itself; the pick said it
            log.debug("could not release an in-flight count", extra={"error": str(exc)})

    def _score(self, backend: Backend, model: str | None) -> int:
        score = backend.in_flight
        if model is not None and not backend.has_loaded(model):
            score += self.cold_penalty
        if backend.is_busy:
            score += BUSY_PENALTY
        return score

    def may_eject(self, backend: Backend) -> bool:
        """False when ``backend`` is the last one still in (it is never ejected)."""
        return any(not other.ejected for other in self.backends if other is not backend)

    def refused(self, backend: Backend) -> None:
        """``backend`` refused a connection: eject it at once (unless it is the last one)."""
        backend.failed("refused", at_once=True, may_eject=self.may_eject(backend))

    def server_error(self, backend: Backend, reason: str) -> None:
        """``backend`` failed (a 5xx, a broken stream): ejected at the third in a row."""
        backend.failed(reason, at_once=False, may_eject=self.may_eject(backend))

    def _refresh_due(self) -> None:
        """Start reading ``/api/ps`` of the backends whose view is stale, or whose back-off ended.

        Runs in the background: a pick never waits for it.
        """
        if not self.several:
            return
        for backend in self.backends:
            if backend in self._refreshing:
                continue
            stale = backend.loaded_at is None or (
                backend.clock() - backend.loaded_at >= LOADED_CACHE_SECONDS
            )
            if backend.due_for_probe() or (stale and not backend.ejected):
                task = asyncio.get_running_loop().create_task(self._probe(backend))
                self._refreshing[backend] = task
                task.add_done_callback(partial(self._refreshed, backend))

    def _refreshed(self, backend: Backend, _: asyncio.Task[None]) -> None:
        self._refreshing.pop(backend, None)

    async def _probe(self, backend: Backend) -> None:
        """Read ``backend``'s ``/api/ps``: its loaded models; readmits an ejected backend."""
        try:
            async with asyncio.timeout(self.settings.health_timeout):
                response = await backend.http.get("/api/ps")
                raw = await response.aread()
        except (httpx.HTTPError, TimeoutError) as exc:
            if not backend.ejected:  # found failing before a request pays for it
                if isinstance(exc, httpx.ConnectError):
                    self.refused(backend)
                elif isinstance(exc, httpx.TransportError):
                    self.server_error(backend, "probe_failed")
            self._probe_failed(backend, type(exc).__name__)
            return
        loaded = loaded_models(raw) if response.status_code == 200 else None
        if loaded is None:
            self._probe_failed(backend, f"HTTP {response.status_code}")
            return
        backend.loaded, backend.loaded_at = loaded, backend.clock()
        if backend.ejected:
            backend.readmit()
            log.warning("Ollama backend readmitted", extra={"backend": backend.name})

    def _probe_failed(self, backend: Backend, why: str) -> None:
        backend.loaded_at = backend.clock()  # the next look waits its turn
        if backend.due_for_probe():
            backend.eject("probe_failed")  # a longer back-off
            log.warning(
                "Ollama backend still failing its probe",
                extra={"backend": backend.name, "error": why},
            )

    async def settle(self) -> None:
        """Wait for the background work started so far: reads of ``/api/ps``, releases of
        shared counts (tests, shutdown)."""
        tasks = [*self._refreshing.values(), *self._background]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, call: Coroutine[Any, Any, Any]) -> None:
        """Run ``call`` in the background, kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(call)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def status(self) -> list[dict[str, object]]:
        """Every backend's state and, with admission control, its queue (``/health/ready``).

        Backends not looked at for :data:`LOADED_CACHE_SECONDS` are probed first (at most
        ``GATEWAY_HEALTH_TIMEOUT``), so that a worker that sent nothing lately reports fresh.
        """
        self._refresh_due()
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
        states = []
        for backend in self.backends:
            state = backend.status()
            if backend.admission is not None:
                state["queue"] = await backend.admission.status()
            states.append(state)
        return states

    async def aclose(self) -> None:
        """Stop the background reads and close every backend."""
        for task in (*self._refreshing.values(), *self._background):
            task.cancel()
        for backend in self.backends:
            await backend.aclose()
        if self.shared is not None:
            await self.shared.aclose()
