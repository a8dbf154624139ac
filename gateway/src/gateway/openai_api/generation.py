"""One upstream generation on behalf of one gateway request, whole or as an OpenAI SSE stream.

:class:`Generation` drives :meth:`OllamaClient.generate` and keeps the request's context up to
date: model usage, and the outcome (``ok``, ``client_disconnect``, ``upstream_error``,
``timeout``, ``invalid_request``). It knows nothing of the OpenAI objects: a *reader* extracts
content, thinking and tool calls from each Ollama object, and a :class:`ChunkRenderer` turns them
into the endpoint's stream chunks.

* Whole answers race the upstream call against the client's disconnect
  (:func:`gateway.disconnect.until_disconnect`), so a departed client stops the GPU. Ollama sends
  them in one piece (``stream: false``), unless stop strings must be matched as the text grows or
  ``GATEWAY_STREAM_WHOLE_ANSWERS`` asks for a stream (see :mod:`gateway.upstream.client`).
* Streams wait for Ollama's first object before the response starts, so errors Ollama reports up
  front (unknown model, busy, unreachable, first-byte timeout) keep their HTTP status. After that,
  a failure becomes one SSE error event and the stream ends. When the client leaves, Starlette
  cancels the iterator, which closes the upstream response; the outcome stays
  ``client_disconnect`` with the tokens relayed so far.
* A tool call the model wrote and Ollama could not parse (:class:`ModelOutputInvalid`) is asked
  again once, as a new upstream request, when nothing has reached the client yet: always for
  whole answers, and for streams when it comes before Ollama's first object. The failed attempt's
  output and tokens are dropped (usage is the retry's); its upstream time is counted. Otherwise
  (a second failure, or mid-stream) the client gets the model error. The same goes for a
  connection to Ollama that broke (:class:`BrokenStream`, a backend that died): the new attempt
  goes to a backend that answers (:mod:`gateway.upstream.failover`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from time import perf_counter
from typing import Any, Protocol, cast

import orjson
from starlette.requests import Request

from gateway.context import CLIENT_DISCONNECT, OK, RequestContext, outcome_for_status
from gateway.errors import GatewayError, ModelOutputInvalid, UpstreamError
from gateway.openai_api.sse import DONE, data_event, error_event
from gateway.openai_api.stops import StopMatcher
from gateway.openai_api.tool_demand import ToolDemand
from gateway.upstream.cancellation import until_disconnect
from gateway.upstream.client import BrokenStream, OllamaClient

Piece = tuple[str, str, Sequence[dict[str, Any]]]
"""What one Ollama object adds: (content, thinking, tool calls)."""

Reader = Callable[[dict[str, Any]], Piece]

log = logging.getLogger("gateway.generation")

INVALID_OUTPUT_RETRIES = 1
"""New upstream attempts after a tool call Ollama could not parse or a broken connection
(nothing sent yet)."""
ASKED_AGAIN = (ModelOutputInvalid, BrokenStream)
"""The failures after which a generation is asked again while nothing reached the client."""


class Output:
    """Everything one generation produced so far, and Ollama's final counts once it is done."""

    __slots__ = (
        "_content",
        "_thinking",
        "completion_tokens",
        "done_reason",
        "final",
        "produced",
        "prompt_tokens",
        "reasoning_chunks",
        "tool_calls",
    )

    def __init__(self) -> None:
        self._content: list[str] = []
        self._thinking: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.done_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.produced = 0
        self.reasoning_chunks = 0
        self.final: dict[str, Any] | None = None

    def clear(self) -> None:
        """Forget everything produced (a failed attempt that is asked again)."""
        self._content.clear()
        self._thinking.clear()
        self.tool_calls.clear()
        self.done_reason = self.final = None
        self.prompt_tokens = self.completion_tokens = None
        self.produced = self.reasoning_chunks = 0

    def add(self, piece: Piece) -> None:
        """Append one Ollama object's content, thinking and tool calls."""
        content, thinking, calls = piece
        if content:
            self._content.append(content)
        if thinking:
            self._thinking.append(thinking)
            self.reasoning_chunks += 1
        if calls:
            self.tool_calls.extend(calls)
        if content or thinking or calls:
            self.produced += 1

    def finish(self, final: dict[str, Any]) -> None:
        """Take ``done_reason`` and the token counts from Ollama's final object."""
        self.final = final
        self.done_reason = final.get("done_reason")
        self.prompt_tokens = final.get("prompt_eval_count") or 0
        self.completion_tokens = final.get("eval_count") or 0

    @property
    def text(self) -> str:
        """The answer text."""
        return "".join(self._content)

    @property
    def reasoning(self) -> str:
        """The reasoning (thinking) text."""
        return "".join(self._thinking)

    def reasoning_tokens(self) -> int:
        """The reasoning tokens, approximately (Ollama counts them only within ``eval_count``).

        Streamed, one per reasoning chunk (Ollama sends about one token per chunk). An answer
        that came in one piece gets the completion tokens shared out by the reasoning's share
        of the text written.
        """
        if self.produced > 1 or not self.completion_tokens:
            return self.reasoning_chunks
        reasoning = sum(map(len, self._thinking))
        written = reasoning + sum(map(len, self._content))
        written += len(orjson.dumps(self.tool_calls)) if self.tool_calls else 0
        return round(self.completion_tokens * reasoning / written) if written else 0


class ChunkRenderer(Protocol):
    """Turns a generation into the stream objects of one OpenAI endpoint."""

    def opening(self) -> dict[str, Any] | None:
        """The chunk sent before any output (the assistant role), if the endpoint has one."""

    def deltas(self, piece: Piece) -> list[dict[str, Any]]:
        """The chunks for one Ollama object."""

    def closing(self, output: Output) -> dict[str, Any]:
        """The chunk carrying ``finish_reason``."""

    def usage(self, output: Output) -> dict[str, Any]:
        """The usage chunk (``stream_options.include_usage``)."""


def outcome_of(error: GatewayError) -> str:
    """The log/metrics outcome of a request that failed with ``error``."""
    return outcome_for_status(error.status)


async def first_object(
    start: Callable[[], AsyncGenerator[dict[str, Any], None]],
    retrying: Callable[[UpstreamError, int], None],
) -> tuple[dict[str, Any], AsyncGenerator[dict[str, Any], None]]:
    """Ollama's first object and the rest of the stream ``start()`` opens.

    A tool call Ollama could not parse before that first object is asked again once (nothing
    has reached the client yet): ``retrying`` is told, and ``start()`` opens a new stream.
    A stream that fails to start is closed (which frees its generation slot).
    """
    retries = INVALID_OUTPUT_RETRIES
    while True:
        chunks = start()
        try:
            return await anext(chunks), chunks
        except ASKED_AGAIN as error:
            await chunks.aclose()
            if not retries:
                raise
            retries -= 1
            retrying(error, 0)
        except BaseException:
            await chunks.aclose()
            raise


class Attempts:
    """The calls to Ollama made for one request: the stream of each attempt, the time spent
    queued and upstream (summed over attempts), and the log line of a retry."""

    def __init__(
        self,
        ollama: OllamaClient,
        ctx: RequestContext,
        path: str,
        body: dict[str, Any],
        demand: ToolDemand | None = None,
    ) -> None:
        self.ollama = ollama
        self.ctx = ctx
        self.path = path
        self.body = body
        self.demand = demand or ToolDemand()
        self._started = 0.0

    def whole(self) -> AsyncGenerator[dict[str, Any], None]:
        """A new attempt asked in one piece: Ollama's only object (``tool_choice`` as for
        :meth:`chunks`)."""
        return self.demand.chunks(self._answer, self.body, self._asking_again)

    async def _answer(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """One call to Ollama with ``body``, answered in one piece."""
        self._started = perf_counter()
        yield await self.ollama.answer(
            self.path,
            body,
            request_id=self.ctx.request_id,
            queue_key=self.ctx.key_id,
            admitted=self._admitted,
        )

    def chunks(self) -> AsyncGenerator[dict[str, Any], None]:
        """A new attempt: Ollama's objects, once one of its slots was granted (held back until
        the answer is whole when ``tool_choice`` demands a call; see :mod:`.tool_demand`)."""
        return self.demand.chunks(self._open, self.body, self._asking_again)

    def _open(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """One call to Ollama with ``body``."""
        self._started = perf_counter()
        chunks = self.ollama.generate(
            self.path,
            body,
            request_id=self.ctx.request_id,
            queue_key=self.ctx.key_id,
            admitted=self._admitted,
        )
        return cast(AsyncGenerator[dict[str, Any], None], chunks)

    def _admitted(self, waited: float | None) -> None:
        """Note the time spent queued (summed over attempts); upstream time starts now."""
        if waited is not None:
            self.ctx.queued_seconds = (self.ctx.queued_seconds or 0.0) + waited
        self._started = perf_counter()

    def retrying(self, error: UpstreamError, produced: int) -> None:
        """Before asking again: count the failed attempt's upstream time, and say why."""
        self.ctx.add_upstream_time(self.elapsed())
        if isinstance(error, ModelOutputInvalid):
            why = "the model wrote a tool call Ollama could not parse; asking again"
        else:
            why = "the connection to Ollama broke before the answer was sent; asking again"
        log.warning(
            why,
            extra={"model": self.body.get("model"), "chunks": produced, "error": error.message},
        )

    def _asking_again(self, why: str) -> None:
        """Before asking again for the call ``tool_choice`` demands: count the attempt's time."""
        self.ctx.add_upstream_time(self.elapsed())
        log.warning(
            "the model answered without the tool call tool_choice demands; asking again",
            extra={"model": self.body.get("model"), "reason": why},
        )

    def elapsed(self) -> float:
        """Seconds since the current attempt was admitted."""
        return perf_counter() - self._started


class Generation:
    """One call to ``/api/chat`` or ``/api/generate`` for one gateway request."""

    def __init__(
        self,
        ollama: OllamaClient,
        ctx: RequestContext,
        request: Request,
        path: str,
        body: dict[str, Any],
        read: Reader,
        stops: Sequence[str] = (),
        demand: ToolDemand | None = None,
    ) -> None:
        self.ollama = ollama
        self.ctx = ctx
        self.request = request
        self.path = path
        self.body = body
        self.read = read
        self.attempts = Attempts(ollama, ctx, path, body, demand)
        self._chunks = self.attempts.chunks
        # OpenAI ``stop``: matched here on the answer (see gateway.openai_api.stops).
        self._stop_strings = stops
        self._stops = StopMatcher(stops) if any(stops) else None
        self.stopped = False  # a stop string matched: the generation ends here
        # A whole answer is asked for in one piece, unless its text must be watched as it grows.
        self._in_one_piece = self._stops is None and not ollama.settings.stream_whole_answers

    def _retrying(self, error: UpstreamError, produced: int) -> None:
        """Before asking again: count the failed attempt, reset the stop matcher."""
        self.attempts.retrying(error, produced)
        self._stops = StopMatcher(self._stop_strings) if self._stops is not None else None

    def _take(self, output: Output, chunk: dict[str, Any]) -> Piece:
        """Add one Ollama object to ``output`` (noting the first token's arrival).

        With stop strings, the answer text goes through the matcher first; when one matches,
        :attr:`stopped` is set, ``output`` is finished with ``done_reason: "stop"`` and the
        caller stops reading (which closes the upstream request: the GPU stops too).
        """
        piece = self.read(chunk)
        done = bool(chunk.get("done"))
        if self._stops is not None:
            piece = self._match(self._stops, piece, done)
        output.add(piece)
        self.ctx.completion_tokens = output.produced  # kept current for a client that leaves
        if output.produced == 1:
            self.ctx.mark_first_token()
        if self.stopped:
            final = chunk if done else {"model": chunk.get("model"), "done": True}
            output.finish({**final, "done_reason": "stop", "eval_count": output.produced})
        elif done:
            output.finish(chunk)
        return piece

    def _match(self, stops: StopMatcher, piece: Piece, done: bool) -> Piece:
        """``piece`` with its answer text cut at a stop string (tool calls dropped after one)."""
        content, thinking, calls = piece
        released = stops.feed(content)
        if stops.matched:
            self.stopped = True
            return released, thinking, ()
        if done:
            released += stops.flush()
        return released, thinking, calls

    def _end(self, output: Output, outcome: str) -> None:
        """Record usage, upstream time and outcome on the context (once per generation)."""
        ctx = self.ctx
        ctx.add_upstream_time(self.attempts.elapsed())
        if output.final is not None:
            ctx.record_final_chunk(output.final)
        else:  # cut short: count the tokens produced so far (the prompt count never came)
            ctx.record_usage(None, output.produced)
        ctx.reasoning_tokens = output.reasoning_tokens()
        ctx.outcome = outcome

    async def collect(self) -> Output:
        """Run the generation to its end and return what it produced.

        Raises :class:`GatewayError` (a 499 ``ClientClosedRequest`` when the client left first).
        """
        output = Output()
        try:
            await until_disconnect(self.request, self.ctx, self._consume(output))
        except GatewayError as error:
            self._end(output, outcome_of(error))
            raise
        self._end(output, OK)
        return output

    async def _consume(self, output: Output) -> None:
        """Read the generation into ``output``, asking again after an unparsable tool call."""
        retries = INVALID_OUTPUT_RETRIES
        while True:
            try:
                await self._consume_once(output)
                return
            except ASKED_AGAIN as error:
                if not retries:
                    raise
                retries -= 1
                self._retrying(error, output.produced)
                output.clear()

    async def _consume_once(self, output: Output) -> None:
        attempt = self.attempts.whole() if self._in_one_piece else self._chunks()
        async with aclosing(attempt) as chunks:
            async for chunk in chunks:
                self._take(output, chunk)
                if self.stopped:
                    break

    async def stream(self, renderer: ChunkRenderer, *, include_usage: bool) -> AsyncIterator[bytes]:
        """Wait for Ollama's first object, then return the SSE events of the whole answer.

        Errors before the first object raise :class:`GatewayError` (a real HTTP status).
        """
        try:
            opening = first_object(self._chunks, self._retrying)
            first, chunks = await until_disconnect(self.request, self.ctx, opening)
        except GatewayError as error:
            self._end(Output(), outcome_of(error))
            raise
        # Until the stream reaches an end, a departed client is the outcome: Starlette cancels
        # the iterator (or drops it, when the disconnect came during a send or before the start).
        self.ctx.outcome = CLIENT_DISCONNECT
        return self._events(first, chunks, renderer, include_usage)

    async def _events(
        self,
        first: dict[str, Any],
        chunks: AsyncGenerator[dict[str, Any], None],
        renderer: ChunkRenderer,
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        output = Output()
        try:
            async with aclosing(chunks):
                if (opening := renderer.opening()) is not None:
                    yield data_event(opening)
                for event in renderer.deltas(self._take(output, first)):
                    yield data_event(event)
                # To its end, so that the connection goes back to the pool; a matched stop string
                # ends it early, and closing the stream then stops the generation upstream.
                while not self.stopped and (chunk := await anext(chunks, None)) is not None:
                    for event in renderer.deltas(self._take(output, chunk)):
                        yield data_event(event)
        except GatewayError as error:
            self.ctx.error_code = error.code
            self._end(output, outcome_of(error))
            yield error_event(error)
            return
        except BaseException:  # cancelled or closed: the client went away
            self._end(output, CLIENT_DISCONNECT)
            raise
        self._end(output, OK)
        yield data_event(renderer.closing(output))
        if include_usage:
            yield data_event(renderer.usage(output))
        yield DONE
