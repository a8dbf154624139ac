"""Budgets per key: tokens and requests per UTC day and per UTC month.

Checked before a metered request from the ledger's totals (one store round trip, only for keys
that have a budget, once the request holds its concurrency slot), charged after it with the real
usage. A budget is exhausted once the usage reached it; the refusal is a 429 with OpenAI's
``insufficient_quota`` type and code, saying when the budget resets, with ``Retry-After``. Under
concurrency the check and the charge are not one step: requests admitted while the key was under
its budget all finish, so a key can overshoot by at most one answer per request it had in flight
when the budget was reached (its ``max_concurrent`` bounds that number).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from gateway.access.keytable import ApiKey
from gateway.access.usage.ledger import Totals, next_day, next_month
from gateway.errors import RateLimited

BUDGET = "budget"  # the ``limit`` label of the rejection metric


class QuotaExhausted(RateLimited):
    """429 ``insufficient_quota``: a daily or monthly budget of the key is used up."""

    type = "insufficient_quota"
    default_code = "insufficient_quota"


@dataclass(frozen=True, slots=True)
class Budgets:
    """A key's budgets; 0 means none."""

    daily_tokens: int = 0
    monthly_tokens: int = 0
    daily_requests: int = 0
    monthly_requests: int = 0

    def __bool__(self) -> bool:
        return any(
            (self.daily_tokens, self.monthly_tokens, self.daily_requests, self.monthly_requests)
        )


def budgets_of(key: ApiKey) -> Budgets:
    """The budgets stored with the key (unset ones are none)."""
    return Budgets(
        key.daily_tokens or 0,
        key.monthly_tokens or 0,
        key.daily_requests or 0,
        key.monthly_requests or 0,
    )


def remaining(budgets: Budgets, totals: Totals) -> dict[str, int | None]:
    """What is left of each budget (None: no such budget)."""
    pairs = {
        "daily_tokens": (budgets.daily_tokens, totals.day_tokens),
        "monthly_tokens": (budgets.monthly_tokens, totals.month_tokens),
        "daily_requests": (budgets.daily_requests, totals.day_requests),
        "monthly_requests": (budgets.monthly_requests, totals.month_requests),
    }
    return {name: max(0, limit - used) if limit else None for name, (limit, used) in pairs.items()}


def _span(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m"]
    return " ".join(part for part in parts if part and part != "0m") or "1m"


def refusal(key: ApiKey, budgets: Budgets, totals: Totals, now: datetime) -> QuotaExhausted | None:
    """The 429 for the first exhausted budget (the one that resets last), or None."""
    checks = (
        ("monthly", "token", budgets.monthly_tokens, totals.month_tokens, next_month(now)),
        ("monthly", "request", budgets.monthly_requests, totals.month_requests, next_month(now)),
        ("daily", "token", budgets.daily_tokens, totals.day_tokens, next_day(now)),
        ("daily", "request", budgets.daily_requests, totals.day_requests, next_day(now)),
    )
    for period, unit, limit, used, resets in checks:
        if limit and used >= limit:
            wait = (resets - now).total_seconds()
            flag = f"--{period}-{unit}s"
            message = (
                f"API key '{key.name}' has used its {period} {unit} budget: {used} of {limit} "
                f"{unit}s this {'day' if period == 'daily' else 'month'} (UTC). It resets at "
                f"{resets:%Y-%m-%d %H:%M} UTC, in {_span(wait)}. GET /v1/me shows your usage; "
                f"ask the operator to raise the budget (gateway keys update {key.name} {flag} N)."
            )
            return QuotaExhausted(message, retry_after=math.ceil(wait))
    return None
