"""The ledger in this worker's memory (``GATEWAY_RATELIMIT_STORAGE=memory://``).

For a single worker without Redis: with N gunicorn workers each keeps its own ledger (a key's
usage and budgets are split N ways), and the ledger is lost when the worker stops. Expired
hashes are dropped whenever a new one is created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date

from gateway.access.usage.ledger import Charge, index_hash


class MemoryUsageStore:
    """Ledger hashes in a dict (see :class:`gateway.access.usage.ledger.UsageStore`)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._hashes: dict[str, dict[str, int]] = {}
        self._names: dict[str, dict[str, str]] = {}
        self._expiry: dict[str, float] = {}
        self._clock = clock

    def _expire(self) -> None:
        now = self._clock()
        for name in [n for n, at in self._expiry.items() if at <= now]:
            self._hashes.pop(name, None)
            self._names.pop(name, None)
            del self._expiry[name]

    async def add(self, charge: Charge) -> None:
        """Apply one charge."""
        for name, expire_at in charge.hashes:
            counts = self._hashes.get(name)
            if counts is None:
                self._expire()
                counts = self._hashes[name] = {}
            for field, amount in charge.increments:
                counts[field] = counts.get(field, 0) + amount
            self._expiry[name] = expire_at
        self._names.setdefault(charge.index, {})[charge.key_id] = charge.key_name
        self._expiry[charge.index] = charge.hashes[0][1]

    async def read(self, names: Sequence[str]) -> list[dict[str, int]]:
        """Copies of the hashes ``names`` (empty for missing ones)."""
        return [dict(self._hashes.get(name, {})) for name in names]

    async def index(self, day: date) -> dict[str, str]:
        """Key id -> name of the keys charged on ``day``."""
        return dict(self._names.get(index_hash(day), {}))

    async def aclose(self) -> None:
        """Nothing to release."""
