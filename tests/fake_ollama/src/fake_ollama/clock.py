"""Time helpers: RFC 3339 timestamps with nanoseconds and Go-style durations (``keep_alive``)."""

from __future__ import annotations

import re
import time

FOREVER_SECONDS = 292 * 365 * 24 * 3600.0  # Go's math.MaxInt64 nanoseconds, roughly
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def rfc3339(ns: int | None = None) -> str:
    """Format a wall-clock time (ns since the epoch, default now) like Go's ``time.RFC3339Nano``."""
    if ns is None:
        ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        return f"{stamp}.{frac:09d}".rstrip("0") + "Z"
    return stamp + "Z"


def parse_duration(value: object) -> float:
    """Seconds for a ``keep_alive`` value: a number of seconds or a Go duration such as ``"5m"``.

    Negative means "forever" (returned as ``FOREVER_SECONDS``). Raises ``ValueError`` with Go's
    message (``time: invalid duration "x"``) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"time: invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_go_duration(value)
    else:
        raise ValueError(f"time: invalid duration {value!r}")
    return FOREVER_SECONDS if seconds < 0 else seconds


def _parse_go_duration(text: str) -> float:
    body = text[1:] if text[:1] in "+-" else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if body.isdigit():  # Ollama also accepts a bare number of seconds as a string
        return sign * float(body)
    pos, total = 0, 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total
