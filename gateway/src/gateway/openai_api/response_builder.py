"""Builds a Responses API ``response`` object from Ollama chat chunks, with its typed SSE events.

One builder serves both modes: the non-streaming answer is the object the stream would have
ended with. Output items open and close as the kind of text changes (``thinking`` -> a
``reasoning`` item, with ``encrypted_content`` when the request includes it; ``content`` -> a
``message`` item; tool calls -> ``function_call`` items, named as the client named them), so
indices and ids agree between the events and the final object. Events are plain dicts serialised
at once with orjson (no per-chunk pydantic models); with ``emit=False`` none are made.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.sse import named_event
from gateway.openai_api.translate.chat import new_id
from gateway.openai_api.translate.encrypted_reasoning import INCLUDE, seal
from gateway.openai_api.translate.response_tools import OfferedTools


def skeleton(request: ResponsesRequest, model: str) -> dict[str, Any]:
    """The response object before any output: status ``in_progress``, request settings echoed."""
    fmt = request.text.format if request.text else None
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": None,
        "reasoning": {"effort": request.reasoning.effort if request.reasoning else None},
        "store": False,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "text": {
            "format": fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"}
        },
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": request.tools or [],
        "truncation": "disabled",
        "usage": None,
        "user": request.user,
    }


def _new_item(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An empty output item of ``kind`` and its empty content part."""
    if kind == "reasoning":
        item = {"id": new_id("rs_"), "type": "reasoning", "summary": [], "content": []}
        return item, {"type": "reasoning_text", "text": ""}
    item = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    return item, {"type": "output_text", "text": "", "annotations": []}


class ResponseBuilder:
    """Feeds on Ollama ``/api/chat`` chunks; ``response`` is the Responses API object."""

    def __init__(
        self,
        request: ResponsesRequest,
        model: str,
        *,
        emit: bool,
        offered: OfferedTools | None = None,
    ) -> None:
        self.response = skeleton(request, model)
        self._offered = offered or OfferedTools()
        self._seal = INCLUDE in (request.include or ())
        self.output: list[dict[str, Any]] = self.response["output"]
        self._emit = emit
        self._events: list[bytes] = []
        self._sequence = 0
        self.final: dict[str, Any] | None = None  # Ollama's done chunk, once it came
        self.produced = 0  # chunks that carried output (the token count of a cut-short answer)
        self._item: dict[str, Any] | None = None  # the reasoning or message item being written
        self._index = -1
        self._texts: list[str] = []

    def _event(self, event_type: str, /, **fields: Any) -> None:
        if self._emit:
            payload = {"type": event_type, "sequence_number": self._sequence, **fields}
            self._sequence += 1
            self._events.append(named_event(event_type, payload))

    def _drain(self) -> bytes:
        data = b"".join(self._events)
        self._events.clear()
        return data

    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress``."""
        self._event("response.created", response=self.response)
        self._event("response.in_progress", response=self.response)
        return self._drain()

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Take one Ollama chunk; returns the events it produced (``b""`` when not emitting)."""
        message = chunk.get("message") or {}
        thinking, content = message.get("thinking"), message.get("content")
        calls = message.get("tool_calls") or ()
        if thinking or content or calls:
            self.produced += 1
        if thinking:
            self._write("reasoning", thinking)
        if content:
            self._write("message", content)
        for call in calls:
            self._function_call(call)
        if chunk.get("done"):
            self.final = chunk
            self._finish(chunk)
        return self._drain()

    def fail(self, error: GatewayError) -> bytes:
        """End the stream after an upstream failure: close the open item, ``response.failed``."""
        self._close("incomplete")
        self.response["status"] = "failed"
        self.response["error"] = {"code": "server_error", "message": error.message}
        self._event("response.failed", response=self.response)
        return self._drain()

    def _write(self, kind: str, text: str) -> None:
        if self._item is None or self._item["type"] != kind:
            self._close("completed")
            self._open(kind)
        self._texts.append(text)
        fields = {"item_id": self._item_id, "output_index": self._index, "content_index": 0}
        if kind == "reasoning":
            self._event("response.reasoning_text.delta", delta=text, **fields)
        else:
            self._event("response.output_text.delta", delta=text, logprobs=[], **fields)

    @property
    def _item_id(self) -> str:
        return str(self._item["id"]) if self._item else ""

    def _open(self, kind: str) -> None:
        item, part = _new_item(kind)
        self._item, self._index, self._texts = item, len(self.output), []
        self.output.append(item)
        self._event("response.output_item.added", output_index=self._index, item=item)
        self._event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=self._index,
            content_index=0,
            part=part,
        )

    def _close(self, status: str) -> None:
        item = self._item
        if item is None:
            return
        text = "".join(self._texts)
        fields = {"item_id": item["id"], "output_index": self._index, "content_index": 0}
        if item["type"] == "reasoning":
            part: dict[str, Any] = {"type": "reasoning_text", "text": text}
            if self._seal:
                item["encrypted_content"] = seal(text)
            self._event("response.reasoning_text.done", text=text, **fields)
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
            item["status"] = status
            self._event("response.output_text.done", text=text, logprobs=[], **fields)
        item["content"] = [part]
        self._event("response.content_part.done", part=part, **fields)
        self._event("response.output_item.done", output_index=self._index, item=item)
        self._item = None

    def _function_call(self, call: dict[str, Any]) -> None:
        self._close("completed")
        function = call.get("function") or {}
        raw = function.get("arguments")
        arguments = raw if isinstance(raw, str) else orjson.dumps(raw or {}).decode()
        item = {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.get("id") or new_id("call_"),
            **self._offered.call_fields(str(function.get("name") or "")),
            "arguments": "",
        }
        index = len(self.output)
        self.output.append(item)
        self._event("response.output_item.added", output_index=index, item=item)
        item["arguments"] = arguments
        fields = {"item_id": item["id"], "output_index": index}
        self._event("response.function_call_arguments.delta", delta=arguments, **fields)
        self._event(
            "response.function_call_arguments.done",
            name=item["name"],
            arguments=arguments,
            **fields,
        )
        item["status"] = "completed"
        self._event("response.output_item.done", output_index=index, item=item)

    def _finish(self, final: dict[str, Any]) -> None:
        incomplete = final.get("done_reason") == "length"
        self._close("incomplete" if incomplete else "completed")
        prompt = int(final.get("prompt_eval_count") or 0)
        completion = int(final.get("eval_count") or 0)
        self.response["usage"] = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if incomplete:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": "max_output_tokens"}
            self._event("response.incomplete", response=self.response)
        else:
            self.response["status"] = "completed"
            self.response["completed_at"] = int(time.time())
            self._event("response.completed", response=self.response)
