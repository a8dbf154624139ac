"""Every knob of the fake, settable three ways with the same name.

* CLI flag ``--thinking-tokens 8``
* environment ``FAKE_OLLAMA_THINKING_TOKENS=8`` (lists are comma-separated; an empty value gives an
  empty list, e.g. ``FAKE_OLLAMA_MODELS=`` starts with no model so a pull is needed)
* at run time ``POST /_fake/config {"thinking_tokens": 8}`` (JSON types; lists as JSON arrays)

Precedence: CLI > ``FAKE_OLLAMA_*`` > the real Ollama variable where one exists
(``OLLAMA_NUM_PARALLEL``, ``OLLAMA_KEEP_ALIVE``, ``OLLAMA_CONTEXT_LENGTH``, ``OLLAMA_ORIGINS``)
> default.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_ollama.clock import parse_duration

ENV_PREFIX = "FAKE_OLLAMA_"
#: The Ollama release this fake follows: the one the stack pins (ollama/Dockerfile, compose,
#: .env.example, README); tests/unit/test_ollama_release_pin.py keeps them equal.
OLLAMA_RELEASE = "0.32.15"
OLLAMA_ENV_FALLBACKS = {
    "num_parallel": "OLLAMA_NUM_PARALLEL",
    "keep_alive": "OLLAMA_KEEP_ALIVE",
    "context_length": "OLLAMA_CONTEXT_LENGTH",
    "origins": "OLLAMA_ORIGINS",
}
DEFAULT_PULL_ERROR = (
    'pull model manifest: Get "https://registry.ollama.ai/v2/library/{name}/manifests/{tag}": '
    "dial tcp: lookup registry.ollama.ai on 127.0.0.11:53: no such host"
)


class ConfigError(ValueError):
    """A knob got a value of the wrong type or range, or does not exist."""


def _knob(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True, slots=True)
class Settings:
    """All behaviour knobs of the fake (immutable; replaced as a whole on update)."""

    models: tuple[str, ...] = _knob(("gpt-oss:20b",), "models present at start")
    registry: tuple[str, ...] = _knob(
        ("gpt-oss:20b", "gpt-oss:120b", "nomic-embed-text:latest", "all-minilm:latest"),
        "models that /api/pull can fetch",
    )
    pull_seconds: float = _knob(0.5, "duration of one pull's progress stream")
    pull_failures: int = _knob(0, "number of initial pulls that fail (DNS-style error line)")
    pull_error: str = _knob(DEFAULT_PULL_ERROR, "error text of a failing pull ({name}, {tag})")
    thinking_tokens: int = _knob(8, "thinking tokens per reply (gpt-oss models)")
    content_tokens: int = _knob(12, "content tokens per reply")
    first_token_delay: float = _knob(0.0, "seconds before the first token (model load)")
    token_delay: float = _knob(0.0, "seconds between tokens")
    num_parallel: int = _knob(0, "concurrent generations (0 = unlimited; others queue)")
    version: str = _knob(OLLAMA_RELEASE, "version reported by /api/version")
    embed_dim: int = _knob(0, "embedding dimension (0 = the model's own, e.g. 768)")
    keep_alive: str = _knob("5m", "default keep_alive for /api/ps expiry")
    context_length: int = _knob(8192, "num_ctx: prompts are cut to it, /api/ps shows it")
    fault_after: int = _knob(3, "chunks sent before a drop/malformed/midstream-error fault")
    slow_token_delay: float = _knob(0.05, "per-token delay of the 'slow' fault")
    slow_tokens: int = _knob(1200, "content tokens of the 'slow' fault")
    hang_seconds: float = _knob(600.0, "upper bound of the 'hang' fault")
    history: int = _knob(1000, "size of the /_fake/requests ring buffer")
    origins: tuple[str, ...] = _knob((), "extra CORS origins allowed (like OLLAMA_ORIGINS)")
    quiet: bool = _knob(False, "no per-request log line on stderr")
    shutdown_grace: int = _knob(1, "seconds open requests get after SIGTERM")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready view (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    def updated(self, changes: Mapping[str, object]) -> Settings:
        """A copy with ``changes`` (JSON-typed values) applied; raises ``ConfigError``."""
        unknown = sorted(set(changes) - set(_TYPES))
        if unknown:
            raise ConfigError(f"unknown knob(s) {unknown}; known: {sorted(_TYPES)}")
        values: dict[str, Any] = {n: _from_json(n, value) for n, value in changes.items()}
        return _validated(dataclasses.replace(self, **values))


_TYPES: dict[str, Any] = typing.get_type_hints(Settings)


def _from_json(name: str, value: object) -> object:
    kind = _TYPES[name]
    if kind == tuple[str, ...]:
        if isinstance(value, str):
            return _split(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, str):
        return value
    raise ConfigError(f"knob {name!r} needs a {_type_name(kind)}, got {value!r}")


def _from_text(name: str, text: str) -> object:
    kind = _TYPES[name]
    try:
        if kind == tuple[str, ...]:
            return _split(text)
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise ValueError(text)
            return lowered in ("1", "true", "yes", "on")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"knob {name!r} needs a {_type_name(kind)}, got {text!r}") from None
    return text


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _type_name(kind: Any) -> str:
    if kind == tuple[str, ...]:
        return "list of strings"
    return {bool: "boolean", int: "integer", float: "number"}.get(kind, "string")


def _validated(settings: Settings) -> Settings:
    for name, kind in _TYPES.items():
        value = getattr(settings, name)
        if kind in (int, float) and value < 0:
            raise ConfigError(f"knob {name!r} must be >= 0, got {value!r}")
    if settings.history < 1:
        raise ConfigError("knob 'history' must be >= 1")
    try:
        parse_duration(settings.keep_alive, env=True)
    except ValueError as exc:
        raise ConfigError(f"knob 'keep_alive': {exc}") from None
    return settings


def settings_from_env(env: Mapping[str, str], base: Settings | None = None) -> Settings:
    """Apply ``FAKE_OLLAMA_*`` (and the real Ollama fallbacks) from ``env`` to ``base``."""
    values: dict[str, Any] = {}
    for name in _TYPES:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None and name in OLLAMA_ENV_FALLBACKS:
            raw = env.get(OLLAMA_ENV_FALLBACKS[name]) or None
        if raw is not None:
            values[name] = _from_text(name, raw)
    return _validated(dataclasses.replace(base or Settings(), **values))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--kebab-case`` option per knob (all default to "not given")."""
    for f in dataclasses.fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        if _TYPES[f.name] is bool:
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:
            kind = _type_name(_TYPES[f.name])
            help_text = f"{f.metadata['help']} ({kind}; default {f.default!r})"
            parser.add_argument(flag, default=None, metavar="VALUE", help=help_text)


def settings_from_args(args: argparse.Namespace, base: Settings) -> Settings:
    """Apply the knobs given on the command line to ``base``."""
    values: dict[str, Any] = {}
    for name in _TYPES:
        raw = getattr(args, name, None)
        if raw is not None:
            values[name] = raw if isinstance(raw, bool) else _from_text(name, str(raw))
    return _validated(dataclasses.replace(base, **values))
