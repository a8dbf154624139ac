"""OpenAI request models for ``/v1/chat/completions`` and ``/v1/completions``.

Validation is as strict as OpenAI's: JSON types are never coerced (``"100"`` is not an integer,
``1`` is not a boolean), numbers are bounded, and every parameter of the OpenAI API is either
honoured, refused with a 400 naming it when it asks for something this server cannot do
(``logprobs``, ``logit_bias``, audio, ...), or type-checked and ignored (``metadata``,
``store``, ``service_tier``, ...): the README's parameter table lists which. Fields that are not
OpenAI's at all are kept, logged by name at DEBUG and ignored (SDKs and tools send their own).
Values that may take two shapes (``stop``, ``content``, ``tool_choice``, ``prompt``) are
normalised by *before* validators that raise one clear error naming the field, instead of
pydantic's per-union-member errors. Validation errors become 400s naming ``param`` through
:mod:`gateway.errors`.
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
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

log = logging.getLogger("gateway.protocol")

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
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


StopSequences = Annotated[list[str], Field(max_length=4)]
"""``stop``: OpenAI takes up to 4 sequences."""


def _content_parts(value: object) -> object:
    """Message ``content``: a string becomes one text part; arrays are validated as parts."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    raise _invalid("content_type", "must be a string, an array of content parts, or null")


class _Open(BaseModel):
    """Base of the nested wire objects: unknown keys are accepted and ignored, types are strict."""

    model_config = ConfigDict(extra="allow", strict=True)


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

    @model_validator(mode="after")
    def _required_by_role(self) -> ChatMessage:
        if self.role == "tool" and self.tool_call_id is None:
            raise _invalid(
                "missing_tool_call_id",
                "a 'tool' message needs 'tool_call_id': the id of the assistant's tool call it "
                "answers",
            )
        if self.role == "assistant":
            if self.content is None and not self.tool_calls:
                raise _invalid(
                    "missing_content", "an 'assistant' message needs 'content' or 'tool_calls'"
                )
        elif self.content is None:
            raise _invalid(
                "missing_content", f"a '{self.role}' message needs 'content' (a string or parts)"
            )
        return self

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


def _refuse(parameter: str, why: str) -> PydanticCustomError:
    """The error for a parameter this server cannot honour (a 400 naming it)."""
    return _invalid("unsupported_parameter", f"'{parameter}' is not supported: {why}")


class GenerationRequest(BaseModel):
    """Fields shared by chat and text completions."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=INT32_MAX)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)
    stop: Annotated[StopSequences | None, BeforeValidator(_string_or_strings)] = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    n: int | None = Field(None, ge=1, le=128)
    user: str | None = None
    # Type-checked and ignored (README "Parameters"): they change nothing in the answer here.
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(None, max_length=16)
    store: bool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Refused when they ask for something (Ollama has no per-token bias).
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None

    @field_validator("logit_bias")
    @classmethod
    def _no_logit_bias(cls, bias: dict[str, float] | None) -> dict[str, float] | None:
        if bias:
            raise _refuse("logit_bias", "Ollama cannot bias single tokens; omit it or send {}")
        return bias

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
    max_completion_tokens: int | None = Field(None, ge=1, le=INT32_MAX)
    tools: list[Tool] | None = None
    tool_choice: Annotated[str | dict[str, Any] | None, BeforeValidator(_tool_choice)] = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: EffortField = None
    reasoning: ReasoningOptions | None = None
    # Type-checked and ignored: a latency hint, and a style hint gpt-oss has no control for.
    prediction: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    # Refused when they ask for something this server cannot do.
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    modalities: list[Literal["text", "audio"]] | None = None
    audio: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, wanted: bool | None) -> bool | None:
        if wanted:
            raise _refuse("logprobs", "this server does not return token log probabilities")
        return wanted

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, count: int | None) -> int | None:
        if count:
            raise _refuse("top_logprobs", "this server does not return token log probabilities")
        return count

    @field_validator("modalities")
    @classmethod
    def _text_only(cls, modalities: list[str] | None) -> list[str] | None:
        if modalities and "audio" in modalities:
            raise _refuse("modalities", "gpt-oss answers in text only; send ['text'] or omit it")
        return modalities

    @field_validator("audio", "web_search_options")
    @classmethod
    def _no_hosted_features(
        cls, value: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if value is not None:
            what = "audio output" if info.field_name == "audio" else "web search"
            raise _refuse(str(info.field_name), f"this server offers no {what}; omit it")
        return value

    @field_validator("functions", "function_call")
    @classmethod
    def _no_legacy_functions(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            raise _refuse(
                str(info.field_name),
                "the deprecated functions API is not served; send 'tools' and 'tool_choice'",
            )
        return value

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
    # Refused when they ask for something this server cannot do.
    best_of: int | None = Field(None, ge=0, le=20)
    echo: bool | None = None
    logprobs: int | None = Field(None, ge=0, le=5)

    @field_validator("best_of")
    @classmethod
    def _one_candidate(cls, best_of: int | None) -> int | None:
        if best_of is not None and best_of > 1:
            raise _refuse("best_of", "Ollama generates one candidate per request; omit it")
        return best_of

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, echo: bool | None) -> bool | None:
        if echo:
            raise _refuse("echo", "the prompt is not echoed back; prepend it yourself")
        return echo

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, count: int | None) -> int | None:
        if count:
            raise _refuse("logprobs", "this server does not return token log probabilities")
        return count
