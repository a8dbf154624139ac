"""Relay one request to Ollama's native API unchanged and stream its answer back byte for byte.

The body goes up as bytes; status, ``Content-Type`` and the body come back as Ollama sent them,
one network chunk at a time (NDJSON stays incremental). Only failures of the connection itself
become gateway errors: before the answer starts they are the OpenAI envelope (503 unreachable,
504 no first byte); after it started, an NDJSON answer ends with Ollama's own ``{"error": ...}``
line, which the official ``ollama`` client raises as ``ResponseError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from functools import partial
from time import perf_counter
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.access.rights import authorize_model
from gateway.context import CLIENT_DISCONNECT, TIMEOUT, UPSTREAM_ERROR, RequestContext
from gateway.errors import InvalidRequest
from gateway.upstream.cancellation import until_disconnect
from gateway.upstream.client import OllamaClient
from gateway.upstream.deadline import ReadDeadline
from gateway.upstream.shared_model import PINNED_HEADER, PROTECTED_PATHS
from gateway.upstream.structured_output import relay_silence_limit

NDJSON = "application/x-ndjson"
KEPT_HEADERS = ("content-type", "content-encoding")
BODYLESS_METHODS = frozenset({"GET", "HEAD"})
MODEL_FIELDS = frozenset({"model", "name"})
_DONE = b'"done":true'
_ERROR = b'{"error":'


class FinalLineTap:
    """Keeps Ollama's final ``"done":true`` line of a generation without parsing the others.

    Only complete lines are searched for the marker (a JSON-escaped ``"done":true`` inside
    generated text cannot match), so the per-chunk cost is one ``rfind``, one ``count`` and two
    ``in``. It also counts the lines, less Ollama's ``{"error": ...}`` lines: that is what a
    stream cut short (Ollama gone, the client gone) is charged, as Ollama streams one generated
    token per line.
    """

    def __init__(self) -> None:
        self._partial = bytearray()
        self.final: dict[str, Any] | None = None
        self._lines = 0
        self._errors = 0

    @property
    def tokens(self) -> int:
        """Generated tokens relayed so far: one per complete line that is not an error."""
        return self._lines - self._errors

    def feed(self, chunk: bytes) -> None:
        """Look at one network chunk."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._partial += chunk
            return
        self._lines += chunk.count(b"\n")
        complete = bytes(self._partial) + chunk[:end] if self._partial else chunk[:end]
        self._partial = bytearray(chunk[end + 1 :])
        if _ERROR in complete:  # rare: count only lines that are an error object
            self._errors += (b"\n" + complete).count(b"\n" + _ERROR)
        if _DONE in complete:
            self._parse(complete)

    def finish(self) -> None:
        """Look at what followed the last newline (a ``stream: false`` answer has none)."""
        if _DONE in self._partial:
            self._parse(bytes(self._partial))

    def _parse(self, lines: bytes) -> None:
        start = lines.rfind(b"\n", 0, lines.rfind(_DONE)) + 1
        stop = lines.find(b"\n", start)
        try:
            data = orjson.loads(lines[start : stop if stop >= 0 else None])
        except orjson.JSONDecodeError:
            return
        if isinstance(data, dict) and data.get("done") is True:
            self.final = data


def record_final_line(ctx: RequestContext, final: dict[str, Any]) -> None:
    """Model, token counts and timings of a native generation, for the logs and metrics."""
    if isinstance(final.get("model"), str):
        ctx.model = final["model"]
    ctx.record_final_chunk(final)


def record_cut_short(ctx: RequestContext, tap: FinalLineTap, body: bytes | None) -> None:
    """Usage of a native stream that ended without its final line: the lines relayed so far.

    The prompt count never came; the model is read from the request body (rare path, so the
    body is parsed only here).
    """
    if not tap.tokens:
        return
    ctx.record_usage(None, tap.tokens)
    if ctx.model is None and body:
        with contextlib.suppress(InvalidRequest):
            ctx.model = next(iter(requested_models(body)), None)


def requested_models(body: bytes) -> list[str]:
    """Every model a native request body names, read the way Ollama (Go) reads it.

    Go matches JSON keys to fields case-insensitively, so ``MODEL`` or ``Name`` count too. A body
    the gateway cannot parse is refused rather than passed on unchecked.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "The request body is not valid JSON (UTF-8). Send a JSON object.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        return []
    return [str(v) for k, v in data.items() if k.lower() in MODEL_FIELDS and isinstance(v, str)]


# The typed options of Ollama's ``api.Options`` (api/types.go); others are ignored upstream.
_NUMBER_OPTIONS = frozenset(
    {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty"}
    | {"frequency_penalty", "tfs_z", "mirostat", "mirostat_tau", "mirostat_eta"}
    | {"num_predict", "top_k", "num_ctx", "seed", "repeat_last_n", "num_keep", "num_batch"}
    | {"num_gpu", "main_gpu", "num_thread"}
)
_BOOL_OPTIONS = frozenset({"numa", "use_mmap", "use_mlock", "low_vram", "vocab_only"})


def check_options(body: bytes) -> None:
    """Refuse (400) a generation whose ``options`` Ollama would reject with a 500.

    Ollama type-checks ``options`` only when it runs the request and answers a wrong type with
    ``500 option "x" must be of type …``: a client's mistake that would read as a server fault.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # Ollama answers malformed JSON with its own 400
    options = data.get("options") if isinstance(data, dict) else None
    if options is None:
        return
    if not isinstance(options, dict):
        raise InvalidRequest("'options' must be an object.", param="options")
    for key, value in options.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (key in _NUMBER_OPTIONS and not number) or (
            key in _BOOL_OPTIONS and not isinstance(value, bool)
        ):
            kind = "a boolean" if key in _BOOL_OPTIONS else "a number"
            raise InvalidRequest(f"Option '{key}' must be {kind}.", param=f"options.{key}")
        if key == "stop" and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise InvalidRequest("Option 'stop' must be an array of strings.", param="options.stop")


def routing_model(ollama: OllamaClient, body: bytes | None) -> str | None:
    """The model a native generation names, read only when there are backends to choose from."""
    if not body or not ollama.router.several:
        return None
    with contextlib.suppress(InvalidRequest):  # Ollama answers a malformed body itself
        return next(iter(requested_models(body)), None)
    return None


def error_line(message: str) -> bytes:
    """Ollama's mid-stream error line."""
    return orjson.dumps({"error": message}) + b"\n"


class RelayedResponse(StreamingResponse):
    """Ollama's answer streamed through; the upstream request is closed however the send ends."""

    def __init__(
        self,
        upstream: httpx.Response,
        owner: AsyncExitStack,
        ctx: RequestContext,
        *,
        started: float,
        chunk_timeout: float,
        tap_usage: bool,
        body: bytes | None = None,
        broke: Callable[[], None] | None = None,
    ) -> None:
        self._upstream = upstream
        self._body = body
        self._broke = broke  # told when the connection to Ollama breaks mid-answer
        self._started = started
        self._owner = owner
        self._ctx = ctx
        self._chunk_timeout = chunk_timeout
        self._tap = FinalLineTap() if tap_usage else None
        self._finished = False
        self._ndjson = upstream.headers.get("content-type", "").startswith(NDJSON)
        headers = {
            name: upstream.headers[name] for name in KEPT_HEADERS if name in upstream.headers
        }
        super().__init__(self._relay(), status_code=upstream.status_code, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the answer; a disconnect cancels the relay and closes the upstream request."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._finished:
                if self._ctx.outcome is None:
                    self._ctx.outcome = CLIENT_DISCONNECT
                self._count_cut_short()
            await self._owner.aclose()
            self._ctx.add_upstream_time(perf_counter() - self._started)

    async def _relay(self) -> AsyncIterator[bytes]:
        chunks = self._upstream.aiter_raw()
        ended_line = True
        with ReadDeadline(self._chunk_timeout) as deadline:
            while True:
                try:
                    chunk = await deadline.read(anext(chunks))
                except StopAsyncIteration:
                    break
                except (TimeoutError, httpx.TransportError) as exc:
                    self._finished = True
                    self._count_cut_short()  # before the last message: it starts the settlement
                    failure = self._failure(exc)
                    if self._ndjson:
                        yield failure if ended_line else b"\n" + failure
                    return
                if self._tap is not None:
                    if self._ndjson:
                        self._ctx.mark_first_token()  # only the first call counts
                    self._tap.feed(chunk)
                ended_line = chunk.endswith(b"\n")
                yield chunk
        self._finished = True
        if self._tap is not None:
            self._tap.finish()
            if self._tap.final is not None:
                record_final_line(self._ctx, self._tap.final)
            else:
                self._count_cut_short()

    def _count_cut_short(self) -> None:
        """Charge a streamed generation that ended before Ollama's final line (once)."""
        tap, self._tap = self._tap, None
        if tap is not None and self._ndjson and tap.final is None:
            record_cut_short(self._ctx, tap, self._body)

    def _failure(self, exc: Exception) -> bytes:
        if isinstance(exc, TimeoutError):
            self._ctx.outcome = TIMEOUT
            return error_line(
                f"gateway: Ollama went silent for more than {self._chunk_timeout:g} s in the "
                "middle of the answer. Retry, or raise GATEWAY_CHUNK_TIMEOUT."
            )
        self._ctx.outcome = UPSTREAM_ERROR
        if self._broke is not None:
            self._broke()
        self._ctx.error_code = "upstream_error"  # metrics: gateway_upstream_errors{kind}
        return error_line(
            f"gateway: the connection to Ollama broke in the middle of the answer "
            f"({type(exc).__name__}). Retry the request."
        )


async def relay(
    request: Request, ollama: OllamaClient, ctx: RequestContext, *, tap_usage: bool = False
) -> RelayedResponse:
    """Forward ``request`` to the same path on Ollama and answer with Ollama's response.

    A key limited to some models may only name those (403 ``model_not_allowed``); the body is
    parsed for that check only, and only for such keys (unparsable: 400). The options of a
    non-admin key that would reload or unload the shared model are pinned
    (:mod:`gateway.upstream.shared_model`, header ``X-Gateway-Pinned``). A client that leaves
    before Ollama's first byte cancels the upstream request (499). Generations (``tap_usage``)
    first wait for one of Ollama's slots, like the OpenAI endpoints, and hold it to the end.
    """
    body = None if request.method in BODYLESS_METHODS else await request.body()
    if body and ctx.key_models is not None:
        for model in requested_models(body):
            authorize_model(ctx, model)
    if tap_usage and body:
        check_options(body)
    if body and not ctx.key_admin and request.url.path in PROTECTED_PATHS:
        body, pinned = ollama.shared_model.protect(body)
        if pinned:
            ctx.add_response_header(PINNED_HEADER, ", ".join(pinned))
    owner = AsyncExitStack()
    started = perf_counter()
    broke: Callable[[], None] | None = None

    def admitted(waited: float | None) -> None:  # each attempt's wait for a slot, summed
        nonlocal started
        if waited is not None:
            ctx.queued_seconds = (ctx.queued_seconds or 0.0) + waited
        started = perf_counter()

    try:
        # Ollama sends nothing before a ``stream: false`` answer is complete: watch the client.
        if tap_usage:  # a generation: to a backend the router picks, holding one of its slots
            opening = ollama.routed(
                request.method,
                request.url.path,
                content=body,
                request_id=ctx.request_id,
                model=routing_model(ollama, body),
                queue_key=ctx.key_id,
                admitted=admitted,
            )
            answer = await until_disconnect(request, ctx, owner.enter_async_context(opening))
            upstream = answer.response
            broke = partial(ollama.router.server_error, answer.backend, "broken_stream")
        else:
            reading = ollama.open(
                request.method, request.url.path, content=body, request_id=ctx.request_id
            )
            upstream = await until_disconnect(request, ctx, owner.enter_async_context(reading))
    except BaseException:
        await owner.aclose()  # frees the slot
        raise
    ctx.stream = upstream.headers.get("content-type", "").startswith(NDJSON)
    return RelayedResponse(
        upstream,
        owner,
        ctx,
        started=started,
        chunk_timeout=relay_silence_limit(body if tap_usage else None, ollama.settings),
        tap_usage=tap_usage,
        body=body,
        broke=broke,
    )
