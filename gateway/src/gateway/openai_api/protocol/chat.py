"""OpenAI request models for ``/v1/chat/completions`` and ``/v1/completions``.

The models validate what the gateway translates and accept everything else: SDKs send fields a
small server does not know (``logprobs``, ``metadata``, ``store``, ...), so unknown top-level
fields are kept, logged by name at DEBUG and ignored — never a 500. Values that may take two
shapes (``stop``, ``content``, ``tool_choice``, ``prompt``) are normalised by *before* validators
that raise one clear error naming the field, instead of pydantic's per-union-member errors.
Validation errors become 400s naming ``param`` through :mod:`gateway.errors`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

log = logging.getLogger("gateway.protocol")

Effort = Literal["low", "medium", "high"]
"""Reasoning levels of gpt-oss (``think`` in Ollama); the reasoning trace cannot be turned off."""


def _invalid(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _effort(value: object) -> object:
    if value is None or value in ("low", "medium", "high"):
        return value
    raise _invalid(
        "reasoning_effort",
        f"{str(value)[:40]!r} is not a reasoning effort: use 'low', 'medium' or 'high' "
        "(gpt-oss always reasons; it cannot be turned off)",
    )


EffortField = Annotated[Effort | None, BeforeValidator(_effort)]


def _string_or_strings(value: object) -> object:
    """``stop``: a string becomes a one-item list; anything but strings is refused."""
    if value is None or isinstance(value, str):
        return None if value is None else [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _invalid("string_or_list", "must be a string or an array of strings")


def _content_parts(value: object) -> object:
    """Message ``content``: a string becomes one text part; arrays are validated as parts."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    raise _invalid("content_type", "must be a string, an array of content parts, or null")


class _Open(BaseModel):
    """Base of the nested wire objects: unknown keys are accepted and ignored."""

    model_config = ConfigDict(extra="allow")


class ImageURL(_Open):
    """``image_url`` of a content part; only inline ``data:`` URIs (base64) are supported."""

    url: str
    detail: str | None = None

    @field_validator("url")
    @classmethod
    def _inline_only(cls, url: str) -> str:
        if not url.startswith("data:") or ";base64," not in url:
            raise _invalid(
                "image_url",
                "only inline images are supported: send a data URI such as "
                "'data:image/png;base64,<...>' (remote URLs are not fetched)",
            )
        return url

    @property
    def base64(self) -> str:
        """The image bytes, base64 encoded (what Ollama's ``images`` takes)."""
        return self.url.split(";base64,", 1)[1]


class ContentPart(_Open):
    """One element of an array ``content``: ``text`` or ``image_url``."""

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageURL | None = None

    @model_validator(mode="after")
    def _payload_present(self) -> ContentPart:
        if self.type == "text" and self.text is None:
            raise _invalid("content_part", "a 'text' part needs a 'text' string")
        if self.type == "image_url" and self.image_url is None:
            raise _invalid("content_part", "an 'image_url' part needs an 'image_url' object")
        return self


def _json_object(value: object) -> object:
    if isinstance(value, dict):
        return value
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise _invalid("arguments", "must be a JSON object encoded as a string, e.g. '{\"x\": 1}'")


class FunctionCall(_Open):
    """``function`` of an assistant tool call; ``arguments`` is parsed from its JSON string."""

    name: str
    arguments: Annotated[dict[str, Any], BeforeValidator(_json_object)] = Field(
        default_factory=dict
    )


class ToolCall(_Open):
    """A tool call in an assistant message of the history."""

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Open):
    """One message of ``messages``; ``developer`` is treated as ``system``."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[list[ContentPart] | None, BeforeValidator(_content_parts)] = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None

    def text(self) -> str:
        """The text parts of ``content`` joined by newlines (``""`` when there is none)."""
        if not self.content:
            return ""
        texts = [part.text for part in self.content if part.text is not None]
        return texts[0] if len(texts) == 1 else "\n".join(texts)

    def images(self) -> list[str]:
        """Base64 images of the ``image_url`` parts."""
        if not self.content:
            return []
        return [part.image_url.base64 for part in self.content if part.image_url is not None]


class FunctionDefinition(_Open):
    """``function`` of a tool definition."""

    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Open):
    """A function the model may call."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


class JsonSchemaFormat(_Open):
    """``response_format.json_schema``: the schema itself sits under ``schema``."""

    name: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(_Open):
    """``response_format``: ``text``, ``json_object`` or ``json_schema``."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise _invalid(
                "json_schema_missing",
                "type 'json_schema' needs a 'json_schema' object with a 'schema'",
            )
        return self


class StreamOptions(_Open):
    """``stream_options``: only ``include_usage`` has an effect."""

    include_usage: bool = False


class ReasoningOptions(_Open):
    """``reasoning`` (``{"effort": ...}``); wins over ``reasoning_effort`` like Ollama's."""

    effort: EffortField = None


def _tool_choice(value: object) -> object:
    if value is None or value in ("none", "auto", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return value
    raise _invalid(
        "tool_choice",
        "must be 'none', 'auto', 'required' or "
        '{"type": "function", "function": {"name": "..."}}',
    )


class GenerationRequest(BaseModel):
    """Fields shared by chat and text completions."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = None
    stop: Annotated[list[str] | None, BeforeValidator(_string_or_strings)] = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = None
    user: str | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise _invalid(
                "n_unsupported",
                "only n=1 is supported (Ollama generates one choice per request); "
                "omit 'n' and send several requests for several answers",
            )
        return n

    @model_validator(mode="after")
    def _log_extras(self) -> GenerationRequest:
        if self.model_extra and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ignored unsupported request fields", extra={"fields": sorted(self.model_extra)}
            )
        if self.user is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("request made for an end user", extra={"end_user": self.user})
        return self

    @property
    def include_usage(self) -> bool:
        """True when a streamed answer ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class ChatCompletionRequest(GenerationRequest):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: Annotated[str | dict[str, Any] | None, BeforeValidator(_tool_choice)] = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: EffortField = None
    reasoning: ReasoningOptions | None = None

    @property
    def effort(self) -> Effort | None:
        """The reasoning level asked for (``reasoning.effort`` wins over ``reasoning_effort``)."""
        if self.reasoning is not None and self.reasoning.effort is not None:
            return self.reasoning.effort
        return self.reasoning_effort


def _single_prompt(value: object) -> object:
    """``prompt``: a string, or a list holding exactly one string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value):
        raise _invalid(
            "prompt_batch", "only one prompt per request is supported; send one request per prompt"
        )
    raise _invalid("prompt_type", "must be a string (token arrays are not supported)")


class CompletionRequest(GenerationRequest):
    """``POST /v1/completions`` (legacy text completion) over Ollama's ``/api/generate``."""

    prompt: Annotated[str, BeforeValidator(_single_prompt)]
    suffix: str | None = None
