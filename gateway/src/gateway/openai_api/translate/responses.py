"""Responses API request -> Ollama ``/api/chat`` body.

``instructions`` become the system message, ``input`` items become chat messages (reasoning items
become the next assistant message's ``thinking``, consecutive ``function_call`` items one assistant
message with ``tool_calls``, ``function_call_output`` items ``tool`` messages), flat function tools
become Ollama tools, and the knobs map onto ``think``, ``format`` and ``options``.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.openai_api.protocol.responses import ResponsesRequest
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
            parts = item.get("content") or item.get("summary") or []
            if text := _text(parts, f"{where}.content"):
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


def _function_tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidRequest(
            f"'{where}' has type {tool.get('type')!r}; this server supports function tools "
            'only ({"type": "function", "name": ..., "parameters": {...}}).',
            param=f"{where}.type",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"'{where}.name' is required.", param=f"{where}.name")
    function: dict[str, Any] = {"name": name, "parameters": tool.get("parameters") or {}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def tools_of(request: ResponsesRequest) -> list[dict[str, Any]]:
    """Ollama tools for ``tools`` narrowed by ``tool_choice`` (``none``: no tools at all).

    Ollama cannot force a call, so ``required`` and a named function are best effort: the
    model sees only the allowed tools and is free to answer in text.
    """
    tools = [_function_tool(tool, f"tools[{i}]") for i, tool in enumerate(request.tools or [])]
    choice = request.tool_choice
    if choice is None or choice in ("auto", "required"):
        return tools
    if choice == "none":
        return []
    if isinstance(choice, dict) and choice.get("type") == "function":
        chosen = [tool for tool in tools if tool["function"]["name"] == choice.get("name")]
        if not chosen:
            raise InvalidRequest(
                f"'tool_choice' names the function {choice.get('name')!r}, which is not in "
                "'tools'.",
                param="tool_choice",
            )
        return chosen
    raise InvalidRequest(
        "'tool_choice' must be 'none', 'auto', 'required' or "
        '{"type": "function", "name": ...}.',
        param="tool_choice",
    )


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


def chat_body(request: ResponsesRequest, model: str) -> dict[str, Any]:
    """The whole ``/api/chat`` body (``model`` is the resolved Ollama name)."""
    refuse_stateful(request)
    body: dict[str, Any] = {"model": model, "messages": messages_of(request)}
    tools = tools_of(request)
    if tools:
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
