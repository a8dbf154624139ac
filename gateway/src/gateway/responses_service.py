"""``/v1/responses``: runs a Responses API request on Ollama's ``/api/chat``, whole or streamed.

Outcomes follow :mod:`gateway.generation`: whole answers race the client's disconnect; streams
wait for Ollama's first chunk so that up-front errors keep their HTTP status, then a later failure
ends the stream with ``response.failed``; a client that leaves mid-stream stays
``client_disconnect`` with the chunks relayed so far counted as completion tokens.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

from starlette.requests import Request

from gateway.context import CLIENT_DISCONNECT, OK, RequestContext
from gateway.disconnect import until_disconnect
from gateway.errors import GatewayError
from gateway.generation import outcome_of
from gateway.protocol_responses import ResponsesRequest
from gateway.response_builder import ResponseBuilder
from gateway.settings import Settings
from gateway.translate_responses import chat_body
from gateway.upstream import OllamaClient

CHAT_PATH = "/api/chat"


class ResponsesService:
    """Translates one request, talks to Ollama, and records model, usage and outcome."""

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
        ctx.model, ctx.stream = self.model, request.stream
        # Translating here makes every 400 happen before any upstream work.
        self.body = chat_body(request, settings.resolve_model(request.model))

    def _chunks(self) -> AsyncGenerator[dict[str, Any], None]:
        chunks = self.ollama.generate(CHAT_PATH, self.body, request_id=self.ctx.request_id)
        return cast(AsyncGenerator[dict[str, Any], None], chunks)

    def _finish(self, builder: ResponseBuilder) -> None:
        usage = builder.response["usage"]
        self.ctx.record_usage(usage["input_tokens"], usage["output_tokens"])
        self.ctx.outcome = OK

    async def create(self) -> dict[str, Any]:
        """The finished response object (errors raise :class:`GatewayError`)."""
        builder = ResponseBuilder(self.request, self.model, emit=False)
        try:
            await until_disconnect(self.http_request, self.ctx, self._consume(builder))
        except GatewayError as error:
            self.ctx.outcome = outcome_of(error)
            raise
        self._finish(builder)
        return builder.response

    async def _consume(self, builder: ResponseBuilder) -> None:
        async with aclosing(self._chunks()) as chunks:
            async for chunk in chunks:
                builder.feed(chunk)

    async def stream(self) -> AsyncIterator[bytes]:
        """Wait for Ollama's first chunk, then return the event stream."""
        chunks = self._chunks()
        try:
            first = await until_disconnect(self.http_request, self.ctx, anext(chunks))
        except GatewayError as error:
            await chunks.aclose()
            self.ctx.outcome = outcome_of(error)
            raise
        return self._events(first, chunks)

    async def _events(
        self, first: dict[str, Any], chunks: AsyncGenerator[dict[str, Any], None]
    ) -> AsyncIterator[bytes]:
        ctx = self.ctx
        builder = ResponseBuilder(self.request, self.model, emit=True)
        # Stays so unless the stream reaches an end: a client that leaves cancels this iterator.
        ctx.outcome = CLIENT_DISCONNECT
        try:
            async with aclosing(chunks):
                yield builder.start()
                chunk, relayed = first, 0
                while True:
                    if events := builder.feed(chunk):
                        yield events
                    if chunk.get("done"):
                        break
                    relayed += 1
                    ctx.completion_tokens = relayed
                    chunk = await anext(chunks)
        except GatewayError as error:
            ctx.outcome = outcome_of(error)
            yield builder.fail(error)
            return
        self._finish(builder)
