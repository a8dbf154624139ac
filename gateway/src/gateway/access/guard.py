"""Auth and rate limits: the policy applied to every request by ``gateway.access.middleware``.

The OpenAI API (``/v1/...``) and Ollama's native API (``/api/...``) need a key, sent as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; ``/health/live``, ``/health/ready`` and
``/metrics`` (which has its own token) are open. Per request: the key is looked up in the worker's
in-memory table (:mod:`gateway.access.keytable`), then one store call
(:mod:`gateway.access.ratelimit.store`) checks the client IP's failed-auth block and the key's
requests, tokens and concurrency limits and counts the request. ``/v1`` responses carry OpenAI's
``x-ratelimit-*`` headers. Just before the last byte of the response (or when the client went away)
the request's real token usage is charged and its concurrency slot freed. Requests to model
endpoints also go through the usage meter (:mod:`gateway.access.usage.meter`): budgets checked
before, the ledger charged in the same settlement after.

Failed-auth limiter: each *wrong* key (not a missing, expired or revoked one, which reveal
nothing to a guesser) counts against the client IP. Past ``GATEWAY_AUTH_FAILURE_LIMIT`` failures
in ``GATEWAY_AUTH_FAILURE_WINDOW`` seconds the IP gets 429 for every request, correct key or
not, until the window ends: otherwise a guesser would learn which guess was right. The client IP
is ``scope["client"]``, i.e. the address from ``X-Forwarded-For`` when the peer is a trusted proxy
(``FORWARDED_ALLOW_IPS``, which must name nginx), else the peer itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from functools import partial

from starlette.types import Scope

from gateway.access.keys import KeyStoreError
from gateway.access.keytable import ApiKey, KeyTable, anonymous_key, split_plain_keys
from gateway.access.ratelimit.memory_store import MemoryStore
from gateway.access.ratelimit.redis_store import RedisStore
from gateway.access.ratelimit.store import (
    AUTH_FAILURES,
    CONCURRENCY,
    REQUESTS,
    STORE_UNAVAILABLE,
    TOKENS,
    Admission,
    FailurePolicy,
    Quota,
    RateLimitStore,
    StoreUnavailable,
    Ticket,
    needs_settling,
    openai_headers,
)
from gateway.access.rights import normalise_model
from gateway.access.usage.meter import UsageMeter, create_usage_store
from gateway.context import ERROR, RequestContext
from gateway.errors import AuthenticationFailed, GatewayError, RateLimited, ServiceUnavailable
from gateway.settings import Settings

log = logging.getLogger("gateway.guard")

PROTECTED_PREFIXES = ("/v1/", "/api/")
STORE_WARNING_INTERVAL = 5.0
# Seconds an in-flight slot in Redis lives unless the worker serving its request renews it (a
# quarter of it at a time): the most a killed worker's requests keep counting against a key's
# concurrency cap, and longer than any stall of a live worker that gunicorn tolerates (60 s).
REDIS_SLOT_LEASE = 90.0
# Loop turns redis.asyncio needs to write a command on a pooled connection (1 on uvloop, 2 on
# asyncio's default loop).
LOOP_TURNS_TO_SEND = 2
# Why a key check failed: the ``reason`` label of the auth-failure metric.
MISSING = "missing"
INVALID = "invalid"
EXPIRED = "expired"
DISABLED = "disabled"

_MESSAGES = {
    MISSING: "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; "
    "ask the operator of this gateway for a key.",
    INVALID: "Incorrect API key provided. Check the key, or ask the operator for a new one.",
    EXPIRED: "This API key has expired. Ask the operator to rotate it or to issue a new one.",
    DISABLED: "This API key has been revoked. Ask the operator for a new one.",
}
_ERROR_TYPES = {REQUESTS: "requests", TOKENS: "tokens", CONCURRENCY: "requests"}


def is_protected(path: str) -> bool:
    """True for the paths that need a key: the OpenAI and the Ollama API."""
    return path.startswith(PROTECTED_PREFIXES)


class ConfigurationError(RuntimeError):
    """The gateway cannot start with these settings; the message says what to set."""


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key from ``Authorization: Bearer`` (preferred) or ``X-API-Key``, if any."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip().decode("latin-1")
        elif name == b"x-api-key" and value.strip():
            api_key = value.strip().decode("latin-1")
    return api_key


def create_store(settings: Settings) -> RateLimitStore:
    """The store named by ``GATEWAY_RATELIMIT_STORAGE``."""
    policy = FailurePolicy(settings.auth_failure_limit, settings.auth_failure_window)
    if settings.ratelimit_storage.startswith("memory://"):
        # A slot outlives any request (total_timeout bounds one upstream call); the slots die
        # with the worker's memory anyway.
        return MemoryStore(policy, slot_ttl=settings.total_timeout + 60)
    # Shared slots are leases the live worker renews: a killed worker's free up after one.
    return RedisStore(
        settings.ratelimit_storage,
        policy,
        slot_ttl=REDIS_SLOT_LEASE,
        timeout=settings.ratelimit_timeout,
    )


class Guard:
    """The policy: who may pass, under which limits, and what happens when the store is down."""

    def __init__(
        self, settings: Settings, keys: KeyTable | None, store: RateLimitStore, usage: UsageMeter
    ) -> None:
        self.keys = keys
        self.store = store
        self.usage = usage
        self.fail_open = settings.ratelimit_fail_open
        self.defaults = Quota(
            settings.default_rpm, settings.default_tpm, settings.default_max_concurrent
        )
        self._anonymous = anonymous_key()
        self._last_store_warning = -math.inf
        self._pending: set[asyncio.Task[None]] = set()

    def quota_of(self, key: ApiKey) -> Quota:
        """The key's own limits where it sets them, the defaults elsewhere."""
        if key.rpm is None and key.tpm is None and key.max_concurrent is None:
            return self.defaults
        return Quota(
            self.defaults.rpm if key.rpm is None else key.rpm,
            self.defaults.tpm if key.tpm is None else key.tpm,
            self.defaults.max_concurrent if key.max_concurrent is None else key.max_concurrent,
        )

    async def authenticate(self, scope: Scope, ctx: RequestContext) -> ApiKey:
        """The request's valid key, or raise 401 (429 once the client IP failed too often)."""
        if self.keys is None:
            return self._anonymous
        presented = presented_key(scope["headers"])
        if presented is None:
            raise self._rejected(ctx, MISSING)
        key = self.keys.lookup(presented)
        if key is None:
            await self._count_failure(ctx)
            raise self._rejected(ctx, INVALID)
        if not key.enabled:
            raise self._rejected(ctx, DISABLED)
        if key.expires is not None and key.expires <= time.time():
            raise self._rejected(ctx, EXPIRED)
        return key

    def _rejected(self, ctx: RequestContext, reason: str) -> AuthenticationFailed:
        ctx.auth_failure_reason = reason
        return AuthenticationFailed(_MESSAGES[reason])

    async def _count_failure(self, ctx: RequestContext) -> None:
        if ctx.client_ip is None:
            return
        try:
            blocked_for = await self.store.record_auth_failure(ctx.client_ip)
        except StoreUnavailable as exc:
            self._warn_store(exc)
            return
        if blocked_for is not None:
            ctx.auth_failure_reason = INVALID
            raise self._refused(None, AUTH_FAILURES, blocked_for, ctx)

    async def admit(self, key: ApiKey, ctx: RequestContext, *, metered: bool) -> Admission | None:
        """Check and count the request; None when the store is down and we fail open.

        A ``metered`` request (a model endpoint) then has its key's budgets checked, while it
        holds its concurrency slot: a slot freed by a finished request is freed together with
        that request's charge, so the check sees every answer but those still in flight. Refused
        for its budget, the request gives its slot back.
        """
        admission = await self._admit_limits(key, ctx)
        if metered:
            try:
                await self.usage.check(key, ctx)
            except GatewayError:
                if admission is not None:
                    await self._settle_limits(admission.ticket, ctx)
                raise
        return admission

    async def _admit_limits(self, key: ApiKey, ctx: RequestContext) -> Admission | None:
        try:
            admission = await self.store.admit(key.id, self.quota_of(key), ctx.client_ip)
        except StoreUnavailable as exc:
            self._warn_store(exc)
            ctx.limit_hit = STORE_UNAVAILABLE
            if self.fail_open:
                return None
            ctx.outcome = ERROR
            raise ServiceUnavailable(
                "Rate limiting is unavailable (its store cannot be reached) and this gateway is "
                "set to refuse requests then (GATEWAY_RATELIMIT_FAIL_OPEN=false). Retry shortly; "
                "operators: check Redis.",
                retry_after=1,
                code="rate_limit_store_unavailable",
            ) from None
        if admission.refused is not None:
            raise self._refused(key, admission.refused, admission.retry_after, ctx, admission)
        return admission

    def _refused(
        self,
        key: ApiKey | None,
        limit: str,
        retry_after: float,
        ctx: RequestContext,
        admission: Admission | None = None,
    ) -> RateLimited:
        ctx.limit_hit = limit
        ctx.key_name = ctx.key_name or (key.name if key else None)
        retry = max(1, math.ceil(retry_after))
        name = key.name if key else ""
        if limit == AUTH_FAILURES:
            message = (
                "Too many failed API key attempts from your address. Please try again in "
                f"{retry}s, with a correct key."
            )
        elif limit == CONCURRENCY:
            cap = self.quota_of(key).max_concurrent if key else 0
            message = (
                f"Too many concurrent requests on API key '{name}': at most {cap} may be in "
                "flight. Retry when one of them has finished."
            )
        else:
            window = None
            if admission is not None:
                window = admission.requests if limit == REQUESTS else admission.tokens
            unit = "requests per minute (RPM)" if limit == REQUESTS else "tokens per minute (TPM)"
            limit_value, used = (
                (window.limit, window.limit - window.remaining) if window else (0, 0)
            )
            message = (
                f"Rate limit reached for {unit} on API key '{name}': limit {limit_value}, "
                f"used {used}. Please try again in {retry}s."
            )
        headers = {} if admission is None else _str_headers(openai_headers(admission))
        error = RateLimited(message, retry_after=retry, headers=headers)
        error.type = _ERROR_TYPES.get(limit, error.type)
        return error

    async def settle(
        self, ticket: Ticket | None, ctx: RequestContext, charged: ApiKey | None
    ) -> None:
        """Charge the request's real token usage to its rate-limit window (and to the usage
        ledger when ``charged`` names its key) and free its slot; never raises."""
        if charged is None:
            await self._settle_limits(ticket, ctx)
        else:
            await asyncio.gather(self._settle_limits(ticket, ctx), self.usage.charge(charged, ctx))

    async def _settle_limits(self, ticket: Ticket | None, ctx: RequestContext) -> None:
        if ticket is None or not needs_settling(ticket):
            return
        tokens = (ctx.prompt_tokens or 0) + (ctx.completion_tokens or 0)
        try:
            await self.store.settle(ticket, tokens)
        except StoreUnavailable as exc:
            self._warn_store(exc)

    def settle_in_background(
        self, ticket: Ticket | None, ctx: RequestContext, charged: ApiKey | None
    ) -> asyncio.Task[None]:
        """:meth:`settle` as a task the guard keeps until it is done (and waits for at close)."""
        task = asyncio.ensure_future(self.settle(ticket, ctx, charged))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def start_settling(
        self, ticket: Ticket | None, ctx: RequestContext, charged: ApiKey | None
    ) -> asyncio.Task[None]:
        """Start :meth:`settle` and give it the loop turns it needs to send its update.

        Called just before a response's last body message: the update is on its way to the store
        before the client has the answer (so its next request finds the slot free and the tokens
        charged), but the answer does not wait for the store's reply.
        """
        task = self.settle_in_background(ticket, ctx, charged)
        for _ in range(LOOP_TURNS_TO_SEND):
            await asyncio.sleep(0)
        return task

    def _warn_store(self, exc: StoreUnavailable) -> None:
        now = time.monotonic()
        if now - self._last_store_warning < STORE_WARNING_INTERVAL:
            return
        self._last_store_warning = now
        then = "requests pass without limits" if self.fail_open else "requests get 503"
        log.warning("rate-limit store unavailable (%s); %s until it is back", exc, then)

    async def aclose(self) -> None:
        """Let pending settlements finish, then close the store."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=2)
        await self.store.aclose()
        await self.usage.aclose()


def _str_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


def build_guard(settings: Settings) -> Guard:
    """The guard for these settings; refuses to build one with no way to get a key."""
    plain = split_plain_keys(settings.api_keys.get_secret_value())
    keys: KeyTable | None = None
    if settings.auth_disabled:
        log.error(
            "GATEWAY_AUTH_DISABLED=true: API KEYS ARE NOT CHECKED. Anyone who can reach this "
            "gateway can use every model and manage models. Development only."
        )
    elif not plain and settings.keys_file is None:
        message = (
            "No API keys configured. Set GATEWAY_API_KEYS=sk-... (comma-separated) or "
            "GATEWAY_KEYS_FILE=/path/keys.json (add keys with `gateway keys create --name NAME`); "
            "for a development setup without keys set GATEWAY_AUTH_DISABLED=true."
        )
        log.error(message)
        raise ConfigurationError(message)
    else:
        try:
            keys = KeyTable(
                plain_keys=plain,
                path=settings.keys_file,
                reload_seconds=settings.keys_reload_seconds,
                normalise_model=partial(normalise_model, settings),
            )
        except KeyStoreError as exc:
            log.error("cannot start: %s", exc)
            raise ConfigurationError(str(exc)) from exc
        if not len(keys):
            log.warning(
                "no API keys yet: every request gets 401 until one is added to %s "
                "(`gateway keys create --name NAME`)",
                settings.keys_file,
            )
    if settings.ratelimit_storage.startswith("memory://"):
        log.warning(
            "GATEWAY_RATELIMIT_STORAGE=memory:// counts limits in each worker process on its "
            "own: with N workers a key gets up to N times its limits. Use redis://host:6379/0."
        )
    usage = UsageMeter(settings, create_usage_store(settings))
    return Guard(settings, keys, create_store(settings), usage)
