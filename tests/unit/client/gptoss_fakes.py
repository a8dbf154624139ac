"""A scripted stand-in for the gateway, served through `httpx.MockTransport` (client tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from gptoss import AsyncClient, Client

BASE_URL = "http://gateway.test"
API_KEY = "sk-unit-test"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in parts; an exception among the parts is raised at that point."""

    def __init__(self, *parts: bytes | BaseException) -> None:
        self.parts = parts
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, BaseException):
                raise part
            yield part

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            if isinstance(part, BaseException):
                raise part
            yield part

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


class ScriptedGateway:
    """Answers each request with the next scripted reply and records what it was sent."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def body(self, index: int = -1) -> Any:
        """The JSON body of a recorded request."""
        return json.loads(self.requests[index].content)


def client(gateway: ScriptedGateway, sleeps: list[float] | None = None, **options: Any) -> Client:
    """A `Client` wired to `gateway`; its retry waits are recorded in `sleeps`, not slept."""
    record = sleeps.append if sleeps is not None else (lambda _: None)
    return Client(
        BASE_URL, API_KEY, transport=httpx.MockTransport(gateway), sleep=record, **options
    )


def async_client(
    gateway: ScriptedGateway, sleeps: list[float] | None = None, **options: Any
) -> AsyncClient:
    """An `AsyncClient` wired to `gateway`, recording its retry waits in `sleeps`."""

    async def record(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return AsyncClient(
        BASE_URL, API_KEY, transport=httpx.MockTransport(gateway), sleep=record, **options
    )


def json_reply(payload: Any, status: int = 200, **headers: str) -> httpx.Response:
    """A JSON response carrying `X-Request-ID: req-<status>` unless told otherwise."""
    headers.setdefault("X-Request-ID", f"req-{status}")
    return httpx.Response(status, json=payload, headers=headers)


def error_reply(
    status: int,
    message: str,
    *,
    code: str | None = None,
    error_type: str = "api_error",
    **headers: str,
) -> httpx.Response:
    """An OpenAI error envelope as the gateway sends it."""
    envelope = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return json_reply(envelope, status, **headers)


def chat_completion(
    content: str = "Hello!",
    *,
    reasoning: str = "The user greets me.",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A `chat.completion` object as the gateway returns it."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "reasoning": reasoning,
        "reasoning_content": reasoning,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1754400000,
        "model": "gpt-oss:20b",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }


def sse(*events: dict[str, Any] | str) -> bytes:
    """Server-sent events: dicts become `data: <json>`, strings are sent as they are."""
    return b"".join(
        f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n".encode()
        for event in events
    )


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk`."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-oss:20b",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "completion_tokens_details": {"reasoning_tokens": 5},
    },
}

#: A complete streamed answer: reasoning, content, finish, usage, [DONE].
ANSWER_EVENTS: tuple[dict[str, Any] | str, ...] = (
    chunk({"role": "assistant", "reasoning": "Greet ", "reasoning_content": "Greet "}),
    chunk({"reasoning": "back.", "reasoning_content": "back."}),
    chunk({"content": "Hello"}),
    chunk({"content": " there!"}),
    chunk({}, "stop"),
    USAGE_CHUNK,
    "[DONE]",
)


def stream_reply(*parts: bytes | BaseException, request_id: str = "req-stream") -> httpx.Response:
    """A `text/event-stream` response whose body arrives in `parts`."""
    return httpx.Response(
        200,
        stream=Body(*parts),
        headers={"Content-Type": "text/event-stream", "X-Request-ID": request_id},
    )
