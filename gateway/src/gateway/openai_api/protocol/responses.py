"""Wire model of ``POST /v1/responses`` requests (OpenAI's Responses API, stateless subset).

Fields the gateway does not use are accepted (the SDK sends many) and logged at debug level;
fields that would silently change the meaning (stored state) are refused by the translator.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.openai_api.protocol.chat import INT32_MAX, ReasoningOptions

log = logging.getLogger(__name__)


class _Open(BaseModel):
    """A request object that tolerates fields this server does not know."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)


class TextFormat(_Open):
    """``text.format``: plain text, any JSON object, or JSON matching a schema."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(_Open):
    """``text``: output format options."""

    format: TextFormat | None = None


class ResponsesRequest(_Open):
    """The body of ``POST /v1/responses``.

    ``input`` items and ``tools`` stay plain dicts here: the translator checks them one by one
    so that its errors can name the offending item (``input[3].arguments``).
    """

    model: str | None = None
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    reasoning: ReasoningOptions | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=INT32_MAX)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    stream: bool = False
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(None, max_length=16)
    user: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool | None = None
    background: bool | None = None
    include: list[str] | None = None

    @model_validator(mode="after")
    def _log_unknown(self) -> ResponsesRequest:
        if self.model_extra and log.isEnabledFor(logging.DEBUG):
            log.debug("ignored /v1/responses fields", extra={"fields": sorted(self.model_extra)})
        return self
