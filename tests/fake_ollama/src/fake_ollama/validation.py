"""Validation shared by the generation endpoints: model lookup, think, format, options, knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from fake_ollama.asgi import Exchange, HTTPError, typed
from fake_ollama.catalog import ModelSpec, is_fault_model, is_valid_name, spec_for
from fake_ollama.clock import parse_duration
from fake_ollama.config import Settings
from fake_ollama.faults import Fault, UnknownFaultError, resolve
from fake_ollama.state import State

THINK_LEVELS = ("high", "medium", "low", "max")
_THINK_ALLOWED = '"high", "medium", "low", "max", true, or false'
_FLOAT_OPTIONS = frozenset(
    {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty"}
    | {"frequency_penalty"}
)
_INT_OPTIONS = frozenset(
    {"num_predict", "top_k", "num_ctx", "seed", "repeat_last_n", "num_keep", "num_batch"}
    | {"num_gpu", "main_gpu", "num_thread"}
)


def require_model(body: dict[str, Any], struct: str) -> str:
    """The ``model`` field (``name`` accepted as legacy alias); 400 when missing/invalid."""
    model = typed(body, "model", (str,), struct, "string") or typed(
        body, "name", (str,), struct, "string"
    )
    if not model:
        raise HTTPError(400, "model is required")
    if not is_valid_name(model):
        raise HTTPError(400, "invalid model name")
    return str(model)


def lookup(state: State, model: str, not_found: str) -> ModelSpec:
    """Spec of a present (or ``fault-*``) model; 404 with ``not_found`` otherwise."""
    if is_fault_model(model):
        return spec_for(model)
    local = state.store.get(model)
    if local is None:
        raise HTTPError(404, not_found)
    return local.spec


def request_fault(ex: Exchange, model: str, state: State) -> Fault | None:
    """The fault asked for by header or model name; 400 for an unknown fault name.

    ``tool-parse-error-once`` is ``tool-parse-error`` the first time a body is seen, no fault
    after that (:meth:`State.first_sight`).
    """
    try:
        fault = resolve(ex.headers.get("x-fake-fault"), model)
    except UnknownFaultError as exc:
        raise HTTPError(400, str(exc)) from None
    if fault is Fault.TOOL_PARSE_ERROR_ONCE:
        return Fault.TOOL_PARSE_ERROR if state.first_sight(ex) else None
    return fault


def think_level(body: dict[str, Any], model: str, spec: ModelSpec) -> str | None:
    """Reasoning level for the reply, ``None`` when the model does not think."""
    think = body.get("think")
    if isinstance(think, str):
        if think not in THINK_LEVELS:
            raise HTTPError(400, _bad_think(think))
        if not spec.thinks:
            raise HTTPError(400, f'"{model}" does not support thinking')
        return "high" if think == "max" else think
    if think is not None and not isinstance(think, bool):
        # api/types.go ThinkValue.UnmarshalJSON (v0.32.15): neither a bool nor a string
        raise HTTPError(
            400,
            'think must be a boolean or string ("high", "medium", "low", "max", true, or false)',
        )
    if think is True and not spec.thinks:
        raise HTTPError(400, f'"{model}" does not support thinking')
    return "medium" if spec.thinks else None  # gpt-oss cannot turn reasoning off


def _bad_think(value: object) -> str:
    shown = orjson.dumps(value).decode()
    return f"invalid think value: {shown} (must be {_THINK_ALLOWED})"


def output_format(body: dict[str, Any]) -> object:
    """``None``, ``"json"`` or a JSON-schema object; 400 for anything else."""
    fmt = body.get("format")
    if fmt in (None, ""):
        return None
    if fmt == "json" or isinstance(fmt, dict):
        return fmt
    raise HTTPError(400, 'invalid format: expected "json" or a valid JSON schema')


def options(body: dict[str, Any], struct: str) -> dict[str, Any]:
    """``options`` with Ollama's type checks (wrong types are a 500, as in current builds)."""
    opts: dict[str, Any] = typed(body, "options", (dict,), struct, "map[string]interface {}") or {}
    for key, value in opts.items():
        if key in _FLOAT_OPTIONS and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise HTTPError(500, f'option "{key}" must be of type float32')
        if key in _INT_OPTIONS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise HTTPError(500, f'option "{key}" must be of type integer')
        if key == "stop" and not (
            isinstance(value, list) and all(isinstance(s, str) for s in value)
        ):
            raise HTTPError(500, 'option "stop" must be of type array')
    top = body.get("top_logprobs")
    if top is not None and (not isinstance(top, int) or not 0 <= top <= 20):
        raise HTTPError(400, "top_logprobs must be between 0 and 20")
    return opts


def keep_alive_seconds(body: dict[str, Any], settings: Settings) -> float:
    """Requested ``keep_alive`` in seconds (default from settings); 400 when unparsable."""
    value = body.get("keep_alive")
    try:
        if value is None:
            return parse_duration(settings.keep_alive, env=True)
        return parse_duration(value)
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None


def stream_flag(body: dict[str, Any], struct: str) -> bool:
    """``stream``, defaulting to true."""
    value = typed(body, "stream", (bool,), struct, "bool")
    return True if value is None else bool(value)


@dataclass(frozen=True, slots=True)
class Pace:
    """Token counts and delays of one request (settings, header overrides, slow fault)."""

    thinking_tokens: int
    content_tokens: int
    first_token_delay: float
    token_delay: float


def pace(ex: Exchange, settings: Settings, fault: Fault | None) -> Pace:
    """Apply ``X-Fake-Tokens`` (``C`` or ``T,C``), ``X-Fake-Token-Delay`` and
    ``X-Fake-First-Token-Delay`` (seconds) on top of the settings."""
    thinking, content = settings.thinking_tokens, settings.content_tokens
    delay, first = settings.token_delay, settings.first_token_delay
    try:
        if tokens := ex.headers.get("x-fake-tokens"):
            parts = [int(p) for p in tokens.split(",")]
            if len(parts) > 2 or min(parts) < 0:
                raise ValueError(tokens)
            thinking, content = (thinking, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        if header := ex.headers.get("x-fake-token-delay"):
            delay = _non_negative(float(header))
        if header := ex.headers.get("x-fake-first-token-delay"):
            first = _non_negative(float(header))
    except ValueError:
        raise HTTPError(
            400,
            "fake-ollama: bad X-Fake-* header (X-Fake-Tokens: C or T,C; delays: seconds >= 0)",
        ) from None
    if fault is Fault.SLOW:
        content, delay = settings.slow_tokens, settings.slow_token_delay
    return Pace(thinking, content, first, delay)


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError(value)
    return value
