"""One model serves every key: a native ``/api/*`` request may not reload or unload it for all.

Ollama 0.32.15 reloads a loaded model when a request's runner options differ from the ones it
was loaded with (``runnerRef.needsReload``, server/sched.go: the ``api.Runner`` options
``num_ctx``, ``num_batch``, ``num_gpu``, ``main_gpu``, ``use_mmap``, ``num_thread``,
``draft_num_predict``, and the request's ``shift`` when it differs from the runner's context
shift); every request in flight waits for the reload, and the next request with the usual options
reloads it again. A ``keep_alive`` of ``0`` unloads the model after the request, a short one soon.

For keys that are not admin keys, :class:`SharedModel` pins these: the reload-forcing options and
a ``shift`` other than ``true`` are dropped, so Ollama keeps the values the model runs with, and
a ``keep_alive`` shorter than the operator's (``GATEWAY_OLLAMA_KEEP_ALIVE``, Ollama's
``OLLAMA_KEEP_ALIVE``) is raised to it. The answer names what was pinned in ``X-Gateway-Pinned``.
Admin keys pass through unchanged. A value Ollama cannot parse is left for Ollama to refuse.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from gateway.errors import InvalidRequest

PINNED_HEADER = "X-Gateway-Pinned"
PROTECTED_PATHS = frozenset({"/api/chat", "/api/generate", "/api/embed", "/api/embeddings"})
RELOAD_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
)
# Go's encoding/json matches a JSON key to a struct field case-insensitively.
_MENTIONS = re.compile(rb'"(?i:keep_alive|options|shift)"')
_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_duration_seconds(text: str) -> float | None:
    """Seconds of a Go duration (``time.ParseDuration``: ``"1h30m"``, ``"-1s"``, ``"0"``)."""
    sign, rest = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.removeprefix("+"))
    if rest == "0":
        return 0.0
    if not rest:
        return None
    total, position = 0.0, 0
    for match in _GO_DURATION.finditer(rest):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return sign * total if position == len(rest) else None


def keep_alive_seconds(value: object) -> float | None:
    """Seconds of a request's ``keep_alive`` as Ollama reads it (``api.Duration``): a number is
    seconds, a string a Go duration; negative means forever (``inf``). ``None``: unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds: float | None = float(value)
    elif isinstance(value, str):
        seconds = go_duration_seconds(value)
    else:
        return None
    return math.inf if seconds is not None and seconds < 0 else seconds


def operator_keep_alive(setting: str) -> float:
    """Seconds of ``GATEWAY_OLLAMA_KEEP_ALIVE``, read like ``OLLAMA_KEEP_ALIVE`` (a bare number is
    seconds); raises :class:`ValueError` for a value Ollama would not accept."""
    text = setting.strip()
    try:
        seconds: float | None = float(text)
    except ValueError:
        seconds = go_duration_seconds(text)
    if seconds is None:
        raise ValueError(
            f"GATEWAY_OLLAMA_KEEP_ALIVE={setting!r} is not a duration: use e.g. 24h, 30m, 300 "
            "(seconds) or -1 (forever), as for OLLAMA_KEEP_ALIVE."
        )
    return math.inf if seconds < 0 else seconds


class SharedModel:
    """Pins the options of native requests that would reload or unload the model for everyone."""

    def __init__(self, keep_alive: str) -> None:
        self.keep_alive = operator_keep_alive(keep_alive)
        # What Ollama is sent instead of a shorter keep_alive: seconds, or -1 for forever.
        self._keep_alive_value: float | int = (
            -1 if math.isinf(self.keep_alive) else _number(self.keep_alive)
        )

    def protect(self, body: bytes) -> tuple[bytes, list[str]]:
        """``body`` with the reload-forcing values pinned, and the names of those pinned."""
        if not _MENTIONS.search(body):
            return body, []
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body, []  # Ollama answers malformed JSON with its own 400
        if not isinstance(data, dict):
            return body, []
        pinned = [*self._pin_options(data), *self._pin_shift(data), *self._pin_keep_alive(data)]
        if not pinned:
            return body, []
        try:
            return orjson.dumps(data), pinned
        except orjson.JSONEncodeError:
            raise InvalidRequest(
                "The request body nests objects or arrays more than 254 levels deep; the "
                "gateway cannot re-encode it to pin its options. Flatten it.",
                code="invalid_json",
            ) from None

    def _pin_options(self, data: dict[str, Any]) -> list[str]:
        options = _last(data, "options")
        if not isinstance(options, dict):
            return []
        dropped = [name for name in RELOAD_OPTIONS if name in options]
        if dropped:
            _replace(data, "options", {k: v for k, v in options.items() if k not in dropped})
        return dropped

    def _pin_shift(self, data: dict[str, Any]) -> list[str]:
        shift = _last(data, "shift")
        if shift is None or shift is True:
            return []
        _replace(data, "shift", None)
        return ["shift"]

    def _pin_keep_alive(self, data: dict[str, Any]) -> list[str]:
        asked = _last(data, "keep_alive")
        seconds = None if asked is None else keep_alive_seconds(asked)
        if seconds is None or seconds >= self.keep_alive:
            return []
        _replace(data, "keep_alive", self._keep_alive_value)
        return ["keep_alive"]


def _last(data: dict[str, Any], name: str) -> Any:
    """The value Go reads for field ``name``: the last key matching it, case-insensitively."""
    value = None
    for key, item in data.items():
        if key.lower() == name:
            value = item
    return value


def _replace(data: dict[str, Any], name: str, value: Any) -> None:
    """Drop every spelling of ``name`` and set it to ``value`` (dropped when ``None``)."""
    for key in [k for k in data if k.lower() == name]:
        del data[key]
    if value is not None:
        data[name] = value


def _number(seconds: float) -> float | int:
    return int(seconds) if seconds.is_integer() else seconds
