"""Typed results: what the client returns, built from the gateway's JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

JSON: TypeAlias = dict[str, Any]

_HEALTHY = frozenset({"ok", "up", "ready", "healthy", "pass", "true"})


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _first_choice(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first of `choices` (the client asks for one), or an empty mapping."""
    choices = data.get("choices") or [{}]
    return choices[0] if isinstance(choices[0], Mapping) else {}


@dataclass(frozen=True)
class Usage:
    """Token counts of one request; `completion_tokens` includes reasoning tokens."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None

    @classmethod
    def from_json(cls, data: object) -> Usage | None:
        """Parse an OpenAI `usage` object (None when absent)."""
        if not isinstance(data, Mapping):
            return None
        details = data.get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
        return cls(
            prompt_tokens=_int(data.get("prompt_tokens")),
            completion_tokens=_int(data.get("completion_tokens")),
            total_tokens=_int(data.get("total_tokens")),
            reasoning_tokens=reasoning if isinstance(reasoning, int) else None,
        )


@dataclass(frozen=True)
class ToolCall:
    """A function the model wants called; `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolCall:
        """Parse one OpenAI `tool_calls` entry."""
        function = data.get("function")
        function = function if isinstance(function, Mapping) else {}
        return cls(
            id=_str(data.get("id")),
            name=_str(function.get("name")),
            arguments=_str(function.get("arguments")) or "{}",
        )

    def parse_arguments(self) -> Any:
        """The arguments decoded from JSON (raises `ValueError` if the model wrote invalid JSON)."""
        return json.loads(self.arguments)

    def to_json(self) -> JSON:
        """The OpenAI wire shape, for sending the call back in the conversation history."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's thinking, streamed before the answer."""

    text: str


@dataclass(frozen=True)
class ContentDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True)
class Done:
    """The stream finished normally; always the last event."""

    finish_reason: str | None
    request_id: str | None


StreamEvent: TypeAlias = ReasoningDelta | ContentDelta | ToolCall | Usage | Done


@dataclass(frozen=True)
class ChatResult:
    """A complete chat answer."""

    content: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None
    model: str
    id: str
    request_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], request_id: str | None) -> ChatResult:
        """Parse a `chat.completion` object."""
        choice = _first_choice(data)
        message = choice.get("message")
        message = message if isinstance(message, Mapping) else {}
        calls = message.get("tool_calls") or []
        return cls(
            content=_str(message.get("content")),
            reasoning=_str(message.get("reasoning")) or _str(message.get("reasoning_content")),
            tool_calls=tuple(ToolCall.from_json(c) for c in calls if isinstance(c, Mapping)),
            finish_reason=choice.get("finish_reason"),
            usage=Usage.from_json(data.get("usage")),
            model=_str(data.get("model")),
            id=_str(data.get("id")),
            request_id=request_id,
        )

    def to_message(self) -> JSON:
        """The assistant message to append to the history for the next turn."""
        message: JSON = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_json() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class CompletionResult:
    """A plain text completion (`/v1/completions`)."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    model: str
    request_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], request_id: str | None) -> CompletionResult:
        """Parse a `text_completion` object."""
        choice = _first_choice(data)
        return cls(
            text=_str(choice.get("text")),
            finish_reason=choice.get("finish_reason"),
            usage=Usage.from_json(data.get("usage")),
            model=_str(data.get("model")),
            request_id=request_id,
        )


@dataclass(frozen=True)
class EmbeddingResult:
    """One vector per input, in input order."""

    vectors: list[list[float]]
    model: str
    usage: Usage | None
    request_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], request_id: str | None) -> EmbeddingResult:
        """Parse an embeddings `list` object."""
        items = [item for item in data.get("data") or [] if isinstance(item, Mapping)]
        items.sort(key=lambda item: _int(item.get("index")))
        return cls(
            vectors=[[float(x) for x in item.get("embedding") or []] for item in items],
            model=_str(data.get("model")),
            usage=Usage.from_json(data.get("usage")),
            request_id=request_id,
        )


@dataclass(frozen=True)
class Model:
    """A model the gateway serves."""

    id: str
    owned_by: str
    created: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        """Parse one entry of `/v1/models`."""
        return cls(
            id=_str(data.get("id")),
            owned_by=_str(data.get("owned_by")),
            created=_int(data.get("created")),
        )


@dataclass(frozen=True)
class ComponentHealth:
    """The state of one part of the deployment (e.g. Ollama, Redis) as the gateway sees it."""

    name: str
    ok: bool
    detail: str


def _component(name: str, value: object) -> ComponentHealth:
    if isinstance(value, Mapping):
        status = value.get("status", value.get("ok", ""))
        detail = next((str(value[k]) for k in ("detail", "error", "message") if value.get(k)), "")
    else:
        status, detail = value, ""
    ok = status is True or str(status).lower() in _HEALTHY
    return ComponentHealth(name=name, ok=ok, detail=detail or str(status))


@dataclass(frozen=True)
class HealthReport:
    """The gateway's readiness (`/health/ready`) with one entry per component it depends on."""

    ready: bool
    status: str
    components: tuple[ComponentHealth, ...] = ()
    request_id: str | None = None

    @classmethod
    def from_json(cls, data: object, *, ready: bool, request_id: str | None) -> HealthReport:
        """Parse the readiness body; components may be a mapping or a list of named objects."""
        body = data if isinstance(data, Mapping) else {}
        raw = body.get("components") or body.get("checks") or {}
        if isinstance(raw, Mapping):
            components = [_component(str(name), value) for name, value in raw.items()]
        else:
            components = [
                _component(str(item.get("name", "?")), item)
                for item in raw
                if isinstance(item, Mapping)
            ]
        status = _str(body.get("status")) or ("ready" if ready else "not ready")
        return cls(ready=ready, status=status, components=tuple(components), request_id=request_id)
