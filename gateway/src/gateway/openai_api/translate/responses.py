"""Responses API request -> Ollama ``/api/chat`` body.

``instructions`` become the system message, ``input`` items become chat messages (reasoning items
become the next assistant message's ``thinking``, read from their text or from the
``encrypted_content`` this gateway made; consecutive ``function_call`` items one assistant message
with ``tool_calls``, namespaced names flattened; ``function_call_output`` items ``tool``
messages), the tools come from :mod:`.response_tools` narrowed by ``tool_choice``, and the knobs
map onto ``think``, ``format`` and ``options``.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.tool_demand import ToolDemand
from gateway.openai_api.translate.encrypted_reasoning import unseal
from gateway.openai_api.translate.response_tools import OfferedTools, flat_name, offered_tools
from gateway.upstream.structured_output import check_schema

ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TEXT_PARTS = {
    "input_text": "text",
    "output_text": "text",
    "text": "text",
    "refusal": "refusal",
    "reasoning_text": "text",
    "summary_text": "text",
}
STATELESS = (
    "This server is stateless and stores no responses or conversations; send the whole "
    "conversation in 'input' (previous output items included) instead of '{field}'."
)


def refuse_stateful(request: ResponsesRequest) -> None:
    """400 for features that need server-side state (the gateway keeps none)."""
    for field in ("previous_response_id", "conversation"):
        if getattr(request, field) is not None:
            raise InvalidRequest(STATELESS.format(field=field), param=field)
    if request.store:
        raise InvalidRequest(
            "'store: true' is not supported: this server keeps no responses. Omit 'store' or "
            "set it to false.",
            param="store",
        )
    if request.background:
        raise InvalidRequest(
            "'background: true' is not supported: responses are returned directly (use "
            "'stream: true' for long answers). Omit 'background' or set it to false.",
            param="background",
        )


def _text(value: object, where: str) -> str:
    """The text of a content field: a string, or a list of text parts joined."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InvalidRequest(f"'{where}' must be a string or a list of text parts.", param=where)
    texts: list[str] = []
    for index, part in enumerate(value):
        if isinstance(part, dict):
            key = TEXT_PARTS.get(str(part.get("type")))
            text = part.get(key) if key else None
            if isinstance(text, str):
                texts.append(text)
                continue
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        raise InvalidRequest(
            f"'{where}[{index}]' has type {kind!r}; this server reads text only "
            "(input_text / output_text parts). gpt-oss does not read images, files or audio.",
            param=f"{where}[{index}]",
        )
    return "".join(texts)


def _arguments(raw: object, where: str) -> dict[str, Any]:
    """A function call's ``arguments`` JSON string as the object Ollama expects."""
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{where}' must be a JSON object encoded as a string.", param=where)
    return value


class _Conversation:
    """Accumulates chat messages from input items, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.thinking: list[str] = []  # reasoning waiting for the next assistant message
        self.tool_names: dict[str, str] = {}  # call_id -> function name

    def _assistant(self, content: str, *, merge: bool) -> dict[str, Any]:
        last = self.messages[-1] if self.messages else None
        if merge and last is not None and last["role"] == "assistant" and not self.thinking:
            return last
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self.thinking:
            message["thinking"] = "".join(self.thinking)
            self.thinking.clear()
        self.messages.append(message)
        return message

    def flush_thinking(self) -> None:
        """Reasoning not followed by an assistant message becomes one of its own."""
        if self.thinking:
            self._assistant("", merge=False)

    def add(self, item: dict[str, Any], where: str) -> None:
        """Translate one input item (``where`` names it in errors: ``input[3]``)."""
        kind = item.get("type", "message")
        if kind == "message":
            role = ROLES.get(str(item.get("role")))
            if role is None:
                raise InvalidRequest(
                    f"'{where}.role' must be user, assistant, system or developer.",
                    param=f"{where}.role",
                )
            content = _text(item.get("content"), f"{where}.content")
            if role == "assistant":
                self._assistant(content, merge=False)
                return
            self.flush_thinking()
            self.messages.append({"role": role, "content": content})
        elif kind == "reasoning":
            if text := _reasoning_text(item, where):
                self.thinking.append(text)
        elif kind == "function_call":
            self._function_call(item, where)
        elif kind == "function_call_output":
            self.flush_thinking()
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(
                    f"'{where}.call_id' is required: the call_id of the function_call it answers.",
                    param=f"{where}.call_id",
                )
            message = {"role": "tool", "content": _text(item.get("output"), f"{where}.output")}
            message["tool_call_id"] = call_id
            if call_id in self.tool_names:
                message["tool_name"] = self.tool_names[call_id]
            self.messages.append(message)
        else:
            raise InvalidRequest(
                f"'{where}' has type {kind!r}; this server accepts message, reasoning, "
                "function_call and function_call_output items.",
                param=f"{where}.type",
            )

    def _function_call(self, item: dict[str, Any], where: str) -> None:
        name, call_id = item.get("name"), item.get("call_id")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"'{where}.name' is required.", param=f"{where}.name")
        namespace = item.get("namespace")
        name = flat_name(namespace if isinstance(namespace, str) else None, name)
        call: dict[str, Any] = {
            "function": {
                "name": name,
                "arguments": _arguments(item.get("arguments"), f"{where}.arguments"),
            }
        }
        if isinstance(call_id, str) and call_id:
            call["id"] = call_id
            self.tool_names[call_id] = name
        message = self._assistant("", merge=True)
        message.setdefault("tool_calls", []).append(call)


def _reasoning_text(item: dict[str, Any], where: str) -> str:
    """A reasoning item's text: its ``content``, else the ``encrypted_content`` this gateway
    made, else its ``summary``."""
    if item.get("content"):
        return _text(item["content"], f"{where}.content")
    try:
        sealed = unseal(item.get("encrypted_content"))
    except ValueError as error:
        raise InvalidRequest(
            f"'{where}.encrypted_content' was altered ({error}); send it back as it was "
            "received, or leave the reasoning item out.",
            param=f"{where}.encrypted_content",
        ) from error
    if sealed is not None:
        return sealed
    return _text(item.get("summary") or [], f"{where}.summary")


def messages_of(request: ResponsesRequest) -> list[dict[str, Any]]:
    """The chat messages for ``instructions`` + ``input``."""
    conversation = _Conversation()
    if request.instructions:
        conversation.messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        conversation.messages.append({"role": "user", "content": request.input})
        return conversation.messages
    for index, item in enumerate(request.input):
        conversation.add(item, f"input[{index}]")
    conversation.flush_thinking()
    return conversation.messages


def format_of(request: ResponsesRequest) -> object:
    """Ollama's ``format`` for ``text.format`` (None for plain text)."""
    fmt = request.text.format if request.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    if not fmt.json_schema:
        raise InvalidRequest(
            "'text.format.schema' is required when 'text.format.type' is 'json_schema'.",
            param="text.format.schema",
        )
    check_schema(fmt.json_schema, "text.format.schema")
    return fmt.json_schema


def chat_body(
    request: ResponsesRequest, model: str, offered: OfferedTools | None = None
) -> dict[str, Any]:
    """The whole ``/api/chat`` body (``model`` is the resolved Ollama name; ``offered`` the
    request's tools when the caller read them already)."""
    refuse_stateful(request)
    body: dict[str, Any] = {"model": model, "messages": messages_of(request)}
    offered = offered or offered_tools(request.tools)
    if tools := offered.narrowed(ToolDemand.of(request.tool_choice, offered.names)):
        body["tools"] = tools
    fmt = format_of(request)
    if fmt is not None:
        body["format"] = fmt
    effort = request.reasoning.effort if request.reasoning else None
    if effort is not None:
        body["think"] = effort
    options = {
        key: value
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
            ("num_predict", request.max_output_tokens),
        )
        if value is not None
    }
    if options:
        body["options"] = options
    return body
