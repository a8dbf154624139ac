"""``GET /v1/me``: what a key may know about itself, and nothing about any other key.

Its name and id, limits, budgets, usage today and this month (in total and by model), what is
left of each budget and when each period resets, and its expiry. Read from the ledger in one
round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.access.keytable import ApiKey
from gateway.access.ratelimit.store import Quota
from gateway.access.usage.budgets import budgets_of, remaining
from gateway.access.usage.ledger import Totals, Usage, day_of, next_day, next_month, total
from gateway.access.usage.meter import UsageMeter


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "requests": usage.requests,
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "reasoning_tokens": usage.reasoning,
        "total_tokens": usage.total,
        "errors": usage.errors,
    }


def _period(name: str, by_model: dict[str, Usage], resets: datetime) -> dict[str, Any]:
    return {
        "period": name,
        "resets_at": int(resets.timestamp()),
        **_usage(total(by_model.values())),
        "by_model": {model: _usage(usage) for model, usage in by_model.items()},
    }


def _timestamp(value: float | None) -> int | None:
    return None if value is None else int(value)


async def statement(meter: UsageMeter, key: ApiKey, quota: Quota) -> dict[str, Any]:
    """The ``/v1/me`` object of ``key`` (limits of 0 and budgets of null mean none)."""
    now = meter.clock()
    day, month = await meter.ledger.periods(key.id, now)
    day_total, month_total = total(day.values()), total(month.values())
    totals = Totals(day_total.requests, day_total.total, month_total.requests, month_total.total)
    budgets = budgets_of(key)
    return {
        "object": "api_key",
        "id": key.id,
        "name": key.name,
        "admin": key.admin,
        "models": None if key.models is None else sorted(key.models),
        "expires_at": _timestamp(key.expires),
        "limits": {
            "requests_per_minute": quota.rpm,
            "tokens_per_minute": quota.tpm,
            "max_concurrent": quota.max_concurrent,
        },
        "budgets": {
            "daily_tokens": budgets.daily_tokens or None,
            "monthly_tokens": budgets.monthly_tokens or None,
            "daily_requests": budgets.daily_requests or None,
            "monthly_requests": budgets.monthly_requests or None,
        },
        "remaining": remaining(budgets, totals),
        "usage": {
            "day": _period(day_of(now).isoformat(), day, next_day(now)),
            "month": _period(day_of(now).strftime("%Y-%m"), month, next_month(now)),
        },
        "now": int(now.astimezone(UTC).timestamp()),
    }
