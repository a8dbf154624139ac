"""Readiness of what the gateway depends on: Ollama, the default model, Redis (when configured).

One :class:`ReadinessChecker` per worker answers ``/health/ready`` and runs the periodic
background probe that keeps the ``gateway_ollama_up`` / ``gateway_default_model_present``
gauges fresh. A result is reused for ``GATEWAY_READY_CACHE_SECONDS`` and concurrent callers
share one check, so readiness probes cannot load Ollama. Details never contain URLs (they may
carry passwords) — only component names, statuses, latencies and what to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from time import monotonic, perf_counter
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.observability import metrics
from gateway.settings import Settings

log = logging.getLogger("gateway.health")

OK = "ok"
DOWN = "down"
DOWNLOADING = "downloading"
UNKNOWN = "unknown"
REDIS_SCHEMES = ("redis://", "rediss://")


@dataclass(frozen=True, slots=True)
class Component:
    """The state of one dependency."""

    status: str
    detail: str
    latency_ms: float | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON view: status, latency (ms, when measured) and a human-readable detail."""
        return {"status": self.status, "latency_ms": self.latency_ms, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Readiness:
    """The result of one readiness check."""

    components: dict[str, Component]

    @property
    def ready(self) -> bool:
        """True when every component is ``ok``."""
        return all(component.status == OK for component in self.components.values())

    def body(self) -> dict[str, Any]:
        """The ``/health/ready`` JSON body."""
        return {
            "status": "ready" if self.ready else "not_ready",
            "components": {name: c.as_json() for name, c in self.components.items()},
        }


def _model_names(response: httpx.Response) -> set[str] | None:
    """Model names in an ``/api/tags`` answer (untagged names get ``:latest``, like Ollama).

    None when the answer is not a model list.
    """
    try:
        tags = orjson.loads(response.content) if response.status_code == 200 else None
    except orjson.JSONDecodeError:
        return None
    models = tags.get("models") if isinstance(tags, dict) else None
    if not isinstance(models, list):
        return None
    names: set[str] = set()
    for entry in models:
        if isinstance(entry, dict):
            for key in ("name", "model"):
                value = entry.get(key)
                if isinstance(value, str):
                    names.add(value if ":" in value else f"{value}:latest")
    return names


def _elapsed_ms(started: float) -> float:
    return round((perf_counter() - started) * 1000, 2)


class ReadinessChecker:
    """Checks the dependencies, caches the result briefly and runs the background probe."""

    def __init__(
        self,
        settings: Settings,
        ollama_http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.settings = settings
        self.ollama_http = ollama_http
        self.clock = clock
        self.redis: Redis[bytes] | None = None
        storage = settings.ratelimit_storage
        if storage.startswith(REDIS_SCHEMES):
            timeout = settings.health_timeout
            self.redis = Redis.from_url(
                storage, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        self._lock = asyncio.Lock()
        self._last: Readiness | None = None
        self._checked_at = 0.0

    async def check(self) -> Readiness:
        """The readiness, at most ``ready_cache_seconds`` old (one check at a time)."""
        async with self._lock:
            age = self.clock() - self._checked_at
            if self._last is not None and age < self.settings.ready_cache_seconds:
                return self._last
            self._last = await self._check_now()
            self._checked_at = self.clock()
            return self._last

    async def _check_now(self) -> Readiness:
        checks: list[Awaitable[dict[str, Component]]] = [self._check_ollama()]
        if self.redis is not None:
            checks.append(self._check_redis(self.redis))
        components: dict[str, Component] = {}
        for part in await asyncio.gather(*checks):
            components.update(part)
        model = self.settings.default_model
        metrics.publish_ollama_health(
            up=components["ollama"].status == OK,
            model=model,
            model_present=components["model"].status == OK,
        )
        return Readiness(components)

    async def _check_ollama(self) -> dict[str, Component]:
        """Ollama reachable (``/api/tags``) and the default model among its models."""
        model = self.settings.default_model
        started = perf_counter()
        try:
            async with asyncio.timeout(self.settings.health_timeout):
                response = await self.ollama_http.get("/api/tags")
        except (httpx.HTTPError, TimeoutError) as exc:
            ollama = Component(
                DOWN,
                f"Ollama is not reachable ({type(exc).__name__}); it may be starting. "
                "Check `docker compose logs ollama`.",
                _elapsed_ms(started),
            )
            unknown = Component(UNKNOWN, f"{model}: cannot tell while Ollama is not reachable.")
            return {"ollama": ollama, "model": unknown}
        latency = _elapsed_ms(started)
        names = _model_names(response)
        if names is None:
            detail = (
                f"Ollama answered /api/tags with HTTP {response.status_code}, not a model list."
            )
            ollama = Component(DOWN, detail + " Check `docker compose logs ollama`.", latency)
            return {"ollama": ollama, "model": Component(UNKNOWN, f"{model}: cannot tell.")}
        ollama = Component(OK, "Ollama answers.", latency)
        if model in names:
            return {"ollama": ollama, "model": Component(OK, f"{model} is present.")}
        detail = (
            f"{model} is still downloading (not in Ollama's model list yet) — see "
            "`docker compose logs -f ollama`."
        )
        return {"ollama": ollama, "model": Component(DOWNLOADING, detail)}

    async def _check_redis(self, redis: Redis[bytes]) -> dict[str, Component]:
        """The rate-limit store answers PING."""
        started = perf_counter()
        try:
            async with asyncio.timeout(self.settings.health_timeout):
                await redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            detail = (
                f"Redis (rate-limit store) is not reachable ({type(exc).__name__}). "
                "Check `docker compose logs redis`."
            )
            return {"redis": Component(DOWN, detail, _elapsed_ms(started))}
        return {"redis": Component(OK, "Redis answers PING.", _elapsed_ms(started))}

    async def probe_forever(self) -> None:
        """Refresh the readiness (and its gauges) every ``probe_interval_seconds``."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("background readiness probe failed; retrying")
            await asyncio.sleep(self.settings.probe_interval_seconds)

    @asynccontextmanager
    async def probing(self) -> AsyncIterator[ReadinessChecker]:
        """Run :meth:`probe_forever` in the background for the duration of the block."""
        task = asyncio.create_task(self.probe_forever(), name="gateway-readiness-probe")
        try:
            yield self
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if self.redis is not None:
                await self.redis.connection_pool.disconnect()
