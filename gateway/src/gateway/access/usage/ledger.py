"""The usage ledger: requests, prompt, completion and reasoning tokens and errors per API key,
per model, per UTC day and per UTC month.

Each (key, period) is one hash whose fields are ``<model>|<counter>``, plus ``*|requests`` and
``*|tokens`` (prompt + completion, all models) that the budgets read. A charge adds one answer's
counts to the key's day hash and month hash and names the key in the day's index (key id ->
name), atomically, in one store call. Hashes expire ``GATEWAY_USAGE_RETENTION_DAYS`` after their
period ends. Reasoning tokens are an approximation for the OpenAI endpoints (one per streamed
reasoning chunk, or the reasoning's share of the text of an answer that came in one piece;
Ollama's ``eval_count`` includes them in the completion tokens); ``/api/*`` requests record 0.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

PREFIX = "gateway/usage"
ALL_MODELS = "*"
SEPARATOR = "|"
TOKENS = "tokens"
COUNTERS = ("requests", "prompt", "completion", "reasoning", "errors")
DAY_SECONDS = 86_400


class UsageUnavailable(Exception):
    """The ledger's store did not answer (Redis down, refused, or too slow)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Counts of one key (and model) over one period."""

    requests: int = 0
    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        """Prompt plus completion tokens (reasoning is part of the completion)."""
        return self.prompt + self.completion

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)))


@dataclass(frozen=True, slots=True)
class Totals:
    """A key's requests and tokens (all models) today and this month: what budgets compare."""

    day_requests: int = 0
    day_tokens: int = 0
    month_requests: int = 0
    month_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Charge:
    """One store call: add ``increments`` to each hash (with its expiry), index the key."""

    hashes: Sequence[tuple[str, int]]  # (name, expire at, Unix seconds)
    increments: Sequence[tuple[str, int]]  # (field, amount), amounts > 0
    index: str  # the day's key index
    key_id: str
    key_name: str


class UsageStore(Protocol):
    """Where the ledger's hashes live (this worker's memory, or Redis shared by all)."""

    async def add(self, charge: Charge) -> None:
        """Apply one charge atomically."""

    async def read(self, names: Sequence[str]) -> list[dict[str, int]]:
        """The hashes ``names`` (empty dicts for missing ones), in one round trip."""

    async def index(self, day: date) -> dict[str, str]:
        """Key id -> key name of every key charged on ``day``."""

    async def aclose(self) -> None:
        """Release connections."""


def day_of(moment: datetime) -> date:
    """The UTC day of ``moment``."""
    return moment.astimezone(UTC).date()


def next_day(moment: datetime) -> datetime:
    """Midnight UTC after ``moment``: when daily budgets reset."""
    return datetime.combine(day_of(moment) + timedelta(days=1), datetime.min.time(), UTC)


def next_month(moment: datetime) -> datetime:
    """The first of the next month, 00:00 UTC: when monthly budgets reset."""
    day = day_of(moment)
    last = calendar.monthrange(day.year, day.month)[1]
    return datetime.combine(day.replace(day=last) + timedelta(days=1), datetime.min.time(), UTC)


def day_hash(key_id: str, day: date) -> str:
    """Name of a key's hash for one UTC day."""
    return f"{PREFIX}/d/{day.isoformat()}/{key_id}"


def month_hash(key_id: str, day: date) -> str:
    """Name of a key's hash for the UTC month of ``day``."""
    return f"{PREFIX}/m/{day.strftime('%Y-%m')}/{key_id}"


def index_hash(day: date) -> str:
    """Name of the index of keys charged on ``day`` (id -> name)."""
    return f"{PREFIX}/keys/{day.isoformat()}"


def field(model: str, counter: str) -> str:
    """The hash field of one model's counter."""
    return f"{model}{SEPARATOR}{counter}"


def increments(model: str, usage: Usage) -> list[tuple[str, int]]:
    """The non-zero fields a charge adds: the model's counters and the all-model totals."""
    pairs = [(field(model, c), getattr(usage, c)) for c in COUNTERS]
    pairs += [(field(ALL_MODELS, "requests"), usage.requests)]
    pairs += [(field(ALL_MODELS, TOKENS), usage.total)]
    return [(name, amount) for name, amount in pairs if amount > 0]


def by_model(counts: Mapping[str, int]) -> dict[str, Usage]:
    """A period hash read back: model -> usage (the all-model totals left out)."""
    found: dict[str, dict[str, int]] = {}
    for name, amount in counts.items():
        model, _, counter = name.rpartition(SEPARATOR)
        if model != ALL_MODELS and counter in COUNTERS:
            found.setdefault(model, {})[counter] = amount
    return {model: Usage(**values) for model, values in sorted(found.items())}


def total(usages: Iterable[Usage]) -> Usage:
    """The sum of ``usages``."""
    result = Usage()
    for usage in usages:
        result = result + usage
    return result


class Ledger:
    """Charges answers and reads them back, on top of a :class:`UsageStore`."""

    def __init__(self, store: UsageStore, retention_days: int) -> None:
        self.store = store
        self.retention = retention_days * DAY_SECONDS

    async def charge(
        self, key_id: str, key_name: str, model: str, usage: Usage, now: datetime
    ) -> None:
        """Add one answer's usage to the key's day and month (one atomic store call)."""
        day = day_of(now)
        day_expiry = int(next_day(now).timestamp()) + self.retention
        month_expiry = int(next_month(now).timestamp()) + self.retention
        charge = Charge(
            hashes=((day_hash(key_id, day), day_expiry), (month_hash(key_id, day), month_expiry)),
            increments=increments(model, usage),
            index=index_hash(day),
            key_id=key_id,
            key_name=key_name,
        )
        if charge.increments:
            await self.store.add(charge)

    async def totals(self, key_id: str, now: datetime) -> Totals:
        """Requests and tokens of the key today and this month (one round trip)."""
        day = day_of(now)
        wanted = (field(ALL_MODELS, "requests"), field(ALL_MODELS, TOKENS))
        names = (day_hash(key_id, day), month_hash(key_id, day))
        day_counts, month_counts = await self.store.read(names)
        return Totals(
            *(counts.get(name, 0) for counts in (day_counts, month_counts) for name in wanted)
        )

    async def periods(
        self, key_id: str, now: datetime
    ) -> tuple[dict[str, Usage], dict[str, Usage]]:
        """The key's usage by model today and this month."""
        day = day_of(now)
        day_counts, month_counts = await self.store.read(
            (day_hash(key_id, day), month_hash(key_id, day))
        )
        return by_model(day_counts), by_model(month_counts)

    async def days(self, since: date, until: date) -> list[tuple[date, str, str, dict[str, Usage]]]:
        """(day, key id, key name, usage by model) for every key charged from since to until."""
        rows: list[tuple[date, str, str, dict[str, Usage]]] = []
        day = since
        while day <= until:
            keys = await self.store.index(day)
            ids = sorted(keys, key=lambda key_id: (keys[key_id], key_id))
            hashes = await self.store.read([day_hash(key_id, day) for key_id in ids]) if ids else []
            rows += [
                (day, key_id, keys[key_id], by_model(counts))
                for key_id, counts in zip(ids, hashes, strict=True)
            ]
            day += timedelta(days=1)
        return rows
