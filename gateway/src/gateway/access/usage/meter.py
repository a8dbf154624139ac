"""The ledger and the budgets as the request path uses them: check before, charge after.

:class:`UsageMeter` belongs to the guard (``gateway.access.guard``), which asks it to check a
metered request's budgets once the request holds its concurrency slot and to charge the request
after its answer (in the same settlement as the rate limits). A ledger store that does not
answer never fails a request that already ran: the charge is lost and a warning logged (at most
every few seconds). Before a request, an unanswered budget check lets the request pass or
answers 503, as ``GATEWAY_RATELIMIT_FAIL_OPEN`` says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.access.keytable import ApiKey
from gateway.access.usage.budgets import BUDGET, budgets_of, refusal
from gateway.access.usage.ledger import Ledger, UsageStore, UsageUnavailable
from gateway.access.usage.memory_store import MemoryUsageStore
from gateway.access.usage.metering import is_metered, model_of, usage_of
from gateway.access.usage.redis_store import RedisUsageStore
from gateway.context import ERROR, RequestContext
from gateway.errors import ServiceUnavailable
from gateway.settings import Settings

log = logging.getLogger("gateway.usage")
WARNING_INTERVAL = 5.0


def create_usage_store(settings: Settings) -> UsageStore:
    """The ledger's store: Redis when the rate limits use Redis, else this worker's memory."""
    if settings.ratelimit_storage.startswith("memory://"):
        return MemoryUsageStore()
    return RedisUsageStore(settings.ratelimit_storage, timeout=settings.ratelimit_timeout)


def utc_now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


class UsageMeter:
    """Checks budgets before metered requests and charges them to the ledger afterwards."""

    def __init__(
        self,
        settings: Settings,
        store: UsageStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.ledger = Ledger(store, settings.usage_retention_days)
        self.fail_open = settings.ratelimit_fail_open
        self.clock = clock
        self._last_warning = -WARNING_INTERVAL

    @staticmethod
    def meters(path: str) -> bool:
        """True when requests to ``path`` are charged and budget-checked."""
        return is_metered(path)

    async def check(self, key: ApiKey, ctx: RequestContext) -> None:
        """Raise 429 ``insufficient_quota`` when a budget of the key is used up."""
        budgets = budgets_of(key)
        if not budgets:
            return
        now = self.clock()
        try:
            totals = await self.ledger.totals(key.id, now)
        except UsageUnavailable as exc:
            self._warn(exc)
            if self.fail_open:
                return
            ctx.outcome = ERROR
            raise ServiceUnavailable(
                "Budgets cannot be checked (the usage store cannot be reached) and this gateway "
                "refuses requests then (GATEWAY_RATELIMIT_FAIL_OPEN=false). Retry shortly; "
                "operators: check Redis.",
                retry_after=1,
                code="usage_store_unavailable",
            ) from None
        refused = refusal(key, budgets, totals, now)
        if refused is not None:
            ctx.limit_hit = BUDGET
            ctx.key_name = key.name  # the rejection metric's label
            raise refused

    async def charge(self, key: ApiKey, ctx: RequestContext) -> None:
        """Charge the finished request to the ledger; never raises."""
        try:
            await self.ledger.charge(
                key.id, key.name, model_of(ctx, self.settings), usage_of(ctx), self.clock()
            )
        except UsageUnavailable as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL:
            return
        self._last_warning = now
        log.warning("usage ledger unavailable (%s): usage is not recorded until it is back", exc)

    async def aclose(self) -> None:
        """Close the ledger's store."""
        await self.ledger.store.aclose()
