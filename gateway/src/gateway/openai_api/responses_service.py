"""``/v1/responses``: runs a Responses API request on Ollama's ``/api/chat``, whole or streamed.

The lifecycle follows :class:`gateway.openai_api.generation.Generation`: whole answers race the
client's disconnect; streams wait for Ollama's first chunk so that up-front errors keep their HTTP
status, then a later failure ends the stream with ``response.failed``; a client that leaves
mid-stream is recorded as ``client_disconnect`` with the chunks relayed so far as completion tokens.
A tool call Ollama could not parse is asked again once while nothing has reached the client (a
whole answer, or before a stream's first chunk), like the chat endpoints.
Usage, first-token time and upstream time land on the request context for logs, metrics and limits.
Hosted tools the request offered are left out (:attr:`ResponsesService.dropped_tools`, logged).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.requests import Request

from gateway.access.rights import authorize_model
from gateway.context import CLIENT_DISCONNECT, OK, RequestContext
from gateway.errors import GatewayError
from gateway.openai_api.context_window import check_context
from gateway.openai_api.generation import (
    ASKED_AGAIN,
    INVALID_OUTPUT_RETRIES,
    Attempts,
    first_object,
    outcome_of,
)
from gateway.openai_api.protocol.responses import ResponsesRequest
from gateway.openai_api.response_builder import ResponseBuilder
from gateway.openai_api.tool_demand import ToolDemand
from gateway.openai_api.translate.response_tools import offered_tools
from gateway.openai_api.translate.responses import chat_body
from gateway.settings import Settings
from gateway.upstream.cancellation import until_disconnect
from gateway.upstream.client import OllamaClient

CHAT_PATH = "/api/chat"

log = logging.getLogger("gateway.generation")


class ResponsesService:
    """Translates one request, talks to Ollama, and records usage and outcome on the context."""

    def __init__(
        self,
        settings: Settings,
        ollama: OllamaClient,
        ctx: RequestContext,
        http_request: Request,
        request: ResponsesRequest,
    ) -> None:
        self.ollama = ollama
        self.ctx = ctx
        self.http_request = http_request
        self.request = request
        self.model = request.model or settings.default_model
        ollama_model = settings.resolve_model(request.model)
        ctx.model, ctx.stream = ollama_model, request.stream  # logs and metrics: the real model
        authorize_model(ctx, ollama_model)
        # Translating here makes every 400 happen before any upstream work.
        self.offered = offered_tools(request.tools)
        demand = ToolDemand.of(request.tool_choice, self.offered.names)
        self.body = chat_body(request, ollama_model, self.offered)
        check_context(self.body, settings.context_length, ctx, "input")
        if self.offered.dropped:
            log.info(
                "left out hosted tools this server cannot run",
                extra={"tools": self.offered.dropped, "model": ollama_model},
            )
        self.attempts = Attempts(ollama, ctx, CHAT_PATH, self.body, demand)
        self._chunks = self.attempts.chunks
        self._retrying = self.attempts.retrying
        self._ended = False
        self._whole: ResponseBuilder | None = None  # the whole answer's current attempt

    def _take(self, builder: ResponseBuilder, chunk: dict[str, Any]) -> bytes:
        """Feed one chunk to ``builder`` (noting the first token's arrival)."""
        events = builder.feed(chunk)
        if builder.produced == 1:
            self.ctx.mark_first_token()
        return events

    def _end(self, builder: ResponseBuilder | None, outcome: str) -> None:
        """Record usage, upstream time and outcome on the context, once."""
        if self._ended:
            return
        self._ended = True
        ctx = self.ctx
        ctx.add_upstream_time(self.attempts.elapsed())
        if builder is not None and builder.final is not None:
            ctx.record_final_chunk(builder.final)
        else:  # cut short: count the chunks produced so far (the prompt count never came)
            ctx.record_usage(None, builder.produced if builder else 0)
        ctx.outcome = outcome

    @property
    def dropped_tools(self) -> list[str]:
        """Types of the hosted tools left out of this request (for a response header)."""
        return self.offered.dropped

    async def create(self) -> dict[str, Any]:
        """The finished response object (errors raise :class:`GatewayError`)."""
        try:
            builder = await until_disconnect(self.http_request, self.ctx, self._consume())
        except GatewayError as error:
            self._end(self._whole, outcome_of(error))
            raise
        self._end(builder, OK)
        return builder.response

    async def _consume(self) -> ResponseBuilder:
        """The finished builder, asking again once after a tool call Ollama could not parse."""
        retries = INVALID_OUTPUT_RETRIES
        while True:
            builder = self._whole = ResponseBuilder(
                self.request, self.model, emit=False, offered=self.offered
            )
            try:
                await self._consume_once(builder)
                return builder
            except ASKED_AGAIN as error:
                if not retries:
                    raise
                retries -= 1
                self._retrying(error, builder.produced)

    async def _consume_once(self, builder: ResponseBuilder) -> None:
        async with aclosing(self._chunks()) as chunks:
            async for chunk in chunks:
                self._take(builder, chunk)

    async def stream(self) -> AsyncIterator[bytes]:
        """Wait for Ollama's first chunk, then return the event stream."""
        try:
            opening = first_object(self._chunks, self._retrying)
            first, chunks = await until_disconnect(self.http_request, self.ctx, opening)
        except GatewayError as error:
            self._end(None, outcome_of(error))
            raise
        return self._events(first, chunks)

    async def _events(
        self, first: dict[str, Any], chunks: AsyncGenerator[dict[str, Any], None]
    ) -> AsyncIterator[bytes]:
        ctx = self.ctx
        builder = ResponseBuilder(self.request, self.model, emit=True, offered=self.offered)
        # Until the stream reaches an end, a departed client is the outcome: Starlette cancels
        # this iterator (or drops it, if the disconnect came while it waited on a send).
        ctx.outcome = CLIENT_DISCONNECT
        try:
            async with aclosing(chunks):
                yield builder.start()
                chunk = first
                while True:
                    if events := self._take(builder, chunk):
                        yield events
                    if builder.final is not None:
                        break
                    ctx.completion_tokens = builder.produced
                    chunk = await anext(chunks)
        except GatewayError as error:
            self.ctx.error_code = error.code
            self._end(builder, outcome_of(error))
            yield builder.fail(error)
            return
        except BaseException:  # cancelled or closed: the client went away
            self._end(builder, CLIENT_DISCONNECT)
            raise
        self._end(builder, OK)
