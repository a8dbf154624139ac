"""Raw ASGI plumbing: one :class:`Exchange` per request (body, typed JSON access, responses).

Disconnects: uvicorn silently drops ``send`` after the client went away, so a handler that waits
(delays, queueing, hang, streaming) calls :meth:`Exchange.watch_disconnect`; a watcher task then
awaits ``http.disconnect`` and cancels the handler task, which the app records as cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = b"application/json; charset=utf-8"
NDJSON_TYPE = b"application/x-ndjson"
TEXT_TYPE = b"text/plain; charset=utf-8"
_JSON_KINDS = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}
_JSON_START = frozenset(b'{["-0123456789tfn')


class HTTPError(Exception):
    """An Ollama-style error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_kind(value: object) -> str:
    """Go's name for the JSON type of ``value`` (as used in unmarshal errors)."""
    return "null" if value is None else _JSON_KINDS.get(type(value), "value")


def typed(body: dict[str, Any], key: str, kinds: tuple[type, ...], where: str, go_type: str) -> Any:
    """``body[key]`` if absent/null or of one of ``kinds``, else Go's unmarshal error (400)."""
    value = body.get(key)
    if value is None or (
        isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    ):
        return value
    kind = json_kind(value)
    message = f"json: cannot unmarshal {kind} into Go struct field {where}.{key} of type {go_type}"
    raise HTTPError(400, message)


class Exchange:
    """One HTTP request/response, plus what the fake tracks about it while it runs."""

    __slots__ = (
        "_body_json",
        "_pending_start",
        "_receive",
        "_send",
        "_watcher",
        "aborted",
        "body",
        "disconnected",
        "finished",
        "headers",
        "method",
        "model",
        "path",
        "query",
        "stage",
        "started",
        "started_ns",
        "status",
        "tokens",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self.body = body
        self._receive = receive
        self._send = send
        self._body_json: Any = None
        self._pending_start: Message | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.started_ns = time.perf_counter_ns()
        self.status = 0
        self.started = self.finished = self.aborted = self.disconnected = False
        self.model = ""
        self.stage = "received"
        self.tokens = 0

    # ----- request side -------------------------------------------------------------------
    def parsed_body(self) -> Any:
        """The body decoded as JSON (cached); ``None`` when empty or not JSON."""
        if self._body_json is None and self.body:
            try:
                self._body_json = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                return None
        return self._body_json

    def json_object(self, struct: str) -> dict[str, Any]:
        """The body as a JSON object, or ``HTTPError(400)`` with Go's decoder wording."""
        if not self.body.strip():
            raise HTTPError(400, "missing request body")
        value = self.parsed_body()
        if value is None and self.body.strip() != b"null":
            first = self.body.lstrip()[:1]
            if first and first[0] not in _JSON_START:
                char = first.decode("latin-1")
                raise HTTPError(400, f"invalid character '{char}' looking for beginning of value")
            raise HTTPError(400, "unexpected EOF")
        if not isinstance(value, dict):
            kind = json_kind(value)
            raise HTTPError(
                400, f"json: cannot unmarshal {kind} into Go value of type api.{struct}"
            )
        return value

    def watch_disconnect(self) -> None:
        """Cancel the current task as soon as the client disconnects (idempotent)."""
        task = asyncio.current_task()
        if self._watcher is None and task is not None and not self.finished:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(task))

    async def _watch(self, task: asyncio.Task[Any]) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.disconnected = True
            task.cancel()

    def stop_watching(self) -> None:
        """Stop the disconnect watcher (called once the response is complete)."""
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    # ----- response side ------------------------------------------------------------------
    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes | None = JSON_TYPE,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Send a complete response with a Content-Length."""
        head = [(b"content-length", b"%d" % len(body)), *headers]
        if content_type is not None:
            head.insert(0, (b"content-type", content_type))
        self.status = status
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": head})
        await self._send({"type": "http.response.body", "body": body})
        self.finished = True

    async def send_json(self, status: int, obj: object) -> None:
        """Send ``obj`` as ``application/json; charset=utf-8``."""
        await self.respond(status, orjson.dumps(obj))

    async def send_error(self, status: int, message: str) -> None:
        """Send Ollama's ``{"error": message}``."""
        await self.respond(status, orjson.dumps({"error": message}))

    def start_stream(self, status: int = 200, content_type: bytes = NDJSON_TYPE) -> None:
        """Prepare a chunked response; headers leave with the first chunk (like Ollama's)."""
        self.status = status
        self._pending_start = {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }

    async def _flush_start(self) -> None:
        if self._pending_start is not None:
            start, self._pending_start = self._pending_start, None
            self.started = True
            await self._send(start)

    async def send_chunk(self, data: bytes, *, last: bool = False) -> None:
        """Send part of a streamed body (``last`` completes the response)."""
        await self._flush_start()
        await self._send({"type": "http.response.body", "body": data, "more_body": not last})
        if last:
            self.finished = True

    async def send_line(self, obj: object, *, last: bool = False) -> None:
        """Send one NDJSON line."""
        await self.send_chunk(orjson.dumps(obj) + b"\n", last=last)

    async def respond_truncated(self, status: int, body: bytes) -> None:
        """Announce ``body`` but send only its first half, then leave: the server closes."""
        head = [(b"content-type", JSON_TYPE), (b"content-length", b"%d" % len(body))]
        self.status = status
        self.started = self.aborted = True
        await self._send({"type": "http.response.start", "status": status, "headers": head})
        await self._send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )

    async def abort(self) -> None:
        """Make sure headers are out, then leave the response incomplete: the server closes."""
        await self._flush_start()
        self.aborted = True
