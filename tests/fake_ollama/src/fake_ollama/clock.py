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


def parse_duration(value: object, *, env: bool = False) -> float:
    """Seconds for a ``keep_alive``: a number of seconds or a Go duration such as ``"5m"``.

    Negative means "forever" (returned as ``FOREVER_SECONDS``). A request's value is read like
    ``api.Duration.UnmarshalJSON`` in Ollama 0.32.15 (api/types.go): a string goes through
    ``time.ParseDuration``, so a bare ``"300"`` is refused (``time: missing unit in duration``), and
    other JSON types are ``Unsupported type: '<Go type>'``. ``env``: the ``OLLAMA_KEEP_ALIVE`` rule
    (envconfig), where a bare number of seconds is fine. Raises ``ValueError`` with Go's message.
    """
    if isinstance(value, str):
        seconds = _parse_go_duration(value, env)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"Unsupported type: '{_GO_TYPES.get(type(value), 'bool')}'")
    return FOREVER_SECONDS if seconds < 0 else seconds


_GO_TYPES = {bool: "bool", dict: "map[string]interface {}", list: "[]interface {}"}


def _parse_go_duration(text: str, env: bool) -> float:
    body = text[1:] if text[:1] in "+-" else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if body.isdigit():
        if env:  # OLLAMA_KEEP_ALIVE also takes a bare number of seconds
            return sign * float(body)
        raise ValueError(f'time: missing unit in duration "{text}"')
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
