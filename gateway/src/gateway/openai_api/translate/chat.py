"""Chat completions both ways: OpenAI request -> Ollama ``/api/chat`` body, Ollama output -> OpenAI.

Request side: messages (content parts, images, assistant tool calls with their arguments as
objects, reasoning passed back as ``thinking``, tool results named after their call), tools
narrowed by ``tool_choice`` (:mod:`gateway.openai_api.tool_demand`), ``response_format``,
reasoning effort -> ``think`` and the sampling options.

Response side: plain dict builders (serialised with orjson, no pydantic per chunk) for the
``chat.completion`` object and the ``chat.completion.chunk`` stream. The thinking text is returned
as ``reasoning`` *and* ``reasoning_content`` because clients read one or the other.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.openai_api.generation import Output, Piece
from gateway.openai_api.protocol.chat import (
    ChatCompletionRequest,
    ChatMessage,
    GenerationRequest,
    ResponseFormat,
    Tool,
    ToolCall,
)
from gateway.openai_api.tool_demand import ToolDemand
from gateway.upstream.structured_output import check_schema

CHAT_OBJECT = "chat.completion"
CHUNK_OBJECT = "chat.completion.chunk"
_SAMPLING = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


# ----- request: OpenAI -> Ollama --------------------------------------------------------------


def tool_demand(request: ChatCompletionRequest) -> ToolDemand:
    """What ``tool_choice`` asks of this request (400 when it names a function not in tools)."""
    names = [tool.function.name for tool in request.tools or ()]
    return ToolDemand.of(request.tool_choice, names)


def chat_body(request: ChatCompletionRequest, model: str) -> dict[str, Any]:
    """The ``/api/chat`` body for ``request``; ``model`` is the resolved Ollama model name."""
    body: dict[str, Any] = {"model": model, "messages": ollama_messages(request.messages)}
    demand = tool_demand(request)
    if tools := [ollama_tool(t) for t in request.tools or () if demand.allows(t.function.name)]:
        body["tools"] = tools
    if request.response_format is not None and (fmt := ollama_format(request.response_format)):
        body["format"] = fmt
    if (effort := request.effort) is not None:
        body["think"] = effort
    limit = request.max_completion_tokens or request.max_tokens
    if options := ollama_options(request, limit):
        body["options"] = options
    return body


def ollama_options(request: GenerationRequest, num_predict: int | None) -> dict[str, Any]:
    """Ollama ``options`` from the sampling fields that were set (nothing else is sent)."""
    options: dict[str, Any] = {}
    if num_predict is not None:
        options["num_predict"] = num_predict
    for name in _SAMPLING:
        if (value := getattr(request, name)) is not None:
            options[name] = value
    # ``stop`` is never sent: Ollama would match it in the reasoning too (see
    # gateway.openai_api.stops); the gateway matches it on the answer itself.
    return options


def ollama_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Ollama messages; a tool result gets ``tool_name`` from the call it answers."""
    call_names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        item: dict[str, Any] = {"role": role, "content": message.text()}
        if images := message.images():
            item["images"] = images
        if role == "assistant":
            thinking = message.reasoning or message.reasoning_content
            if thinking:
                item["thinking"] = thinking
            if message.tool_calls:
                item["tool_calls"] = [ollama_tool_call(call) for call in message.tool_calls]
                call_names.update({c.id: c.function.name for c in message.tool_calls if c.id})
        elif role == "tool":
            if message.tool_call_id:
                item["tool_call_id"] = message.tool_call_id
            name = message.name or call_names.get(message.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def ollama_tool_call(call: ToolCall) -> dict[str, Any]:
    """An assistant tool call of the history, arguments as an object (Ollama's shape)."""
    item: dict[str, Any] = {
        "function": {"name": call.function.name, "arguments": call.function.arguments}
    }
    if call.id:
        item["id"] = call.id
    return item


def ollama_tool(tool: Tool) -> dict[str, Any]:
    """A tool definition in Ollama's shape (only the keys Ollama reads)."""
    function: dict[str, Any] = {"name": tool.function.name}
    if tool.function.description is not None:
        function["description"] = tool.function.description
    if tool.function.parameters is not None:
        function["parameters"] = tool.function.parameters
    return {"type": "function", "function": function}


def ollama_format(response_format: ResponseFormat) -> str | dict[str, Any] | None:
    """``format``: ``"json"`` for json_object, the schema for json_schema, None for text."""
    if response_format.type == "json_object":
        return "json"
    if response_format.json_schema is not None and response_format.type == "json_schema":
        check_schema(response_format.json_schema.schema_, "response_format")
        return response_format.json_schema.schema_
    return None


# ----- response: Ollama -> OpenAI -------------------------------------------------------------


def read_chat(chunk: dict[str, Any]) -> Piece:
    """Content, thinking and tool calls of one ``/api/chat`` NDJSON object."""
    message = chunk.get("message") or {}
    return (
        message.get("content") or "",
        message.get("thinking") or "",
        message.get("tool_calls") or (),
    )


def new_id(prefix: str) -> str:
    """A unique response id: ``prefix`` + 32 random hex digits (never derived from the clock)."""
    return prefix + secrets.token_hex(16)


def finish_reason(done_reason: str | None, called_tools: bool) -> str:
    """OpenAI's ``finish_reason``: ``length``, ``tool_calls`` when calls were made, else stop."""
    if done_reason == "length":
        return "length"
    return "tool_calls" if called_tools else "stop"


def usage(output: Output) -> dict[str, int]:
    """OpenAI ``usage`` from Ollama's ``prompt_eval_count`` / ``eval_count``."""
    prompt = output.prompt_tokens or 0
    completion = output.completion_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def openai_tool_call(call: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """An Ollama tool call in OpenAI's shape: id kept (or minted), arguments as a JSON string."""
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    item: dict[str, Any] = {
        "id": call.get("id") or "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": function.get("name", ""), "arguments": arguments},
    }
    if index is not None:
        item["index"] = index
    return item


def chat_completion(
    output: Output, *, completion_id: str, created: int, model: str
) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object for a finished generation."""
    calls = [openai_tool_call(call) for call in output.tool_calls]
    text = output.text
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if reasoning := output.reasoning:
        message["reasoning"] = reasoning
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id,
        "object": CHAT_OBJECT,
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(output.done_reason, bool(calls)),
            }
        ],
        "usage": usage(output),
    }


class ChatChunks:
    """Builds the ``chat.completion.chunk`` objects of one stream (shared id and ``created``)."""

    __slots__ = ("_calls", "completion_id", "created", "model")

    def __init__(self, model: str, completion_id: str | None = None, created: int | None = None):
        self.model = model
        self.completion_id = completion_id or new_id("chatcmpl-")
        self.created = created if created is not None else int(time.time())
        self._calls = 0

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": CHUNK_OBJECT,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return self._envelope(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )

    def opening(self) -> dict[str, Any] | None:
        """The first chunk: the assistant role with empty content."""
        return self._chunk({"role": "assistant", "content": ""})

    def deltas(self, piece: Piece) -> list[dict[str, Any]]:
        """Chunks for one Ollama object: reasoning, then content, then tool calls (if any)."""
        content, thinking, calls = piece
        out: list[dict[str, Any]] = []
        if thinking:
            out.append(self._chunk({"reasoning": thinking, "reasoning_content": thinking}))
        if content:
            out.append(self._chunk({"content": content}))
        if calls:
            first = self._calls
            self._calls += len(calls)
            items = [openai_tool_call(call, first + i) for i, call in enumerate(calls)]
            out.append(self._chunk({"tool_calls": items}))
        return out

    def closing(self, output: Output) -> dict[str, Any]:
        """The finish chunk: empty delta and the finish reason."""
        return self._chunk({}, finish_reason(output.done_reason, self._calls > 0))

    def usage(self, output: Output) -> dict[str, Any]:
        """The usage chunk sent when ``stream_options.include_usage``: ``choices`` is empty."""
        chunk = self._envelope([])
        chunk["usage"] = usage(output)
        return chunk
