"""The asynchronous client: `Client`'s twin over `httpx.AsyncClient`, same settings and results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Unpack

import httpx

from ._base import BaseClient, Call, ChatOptions, Messages, T, request_id_of
from ._config import DEFAULT_MAX_RETRIES
from ._streaming import ChatStreamAssembler
from ._types import ChatResult, CompletionResult, EmbeddingResult, HealthReport, Model, StreamEvent


class AsyncClient(BaseClient):
    """Talks to the gateway from asyncio code; see `Client` for the settings and each method.

    >>> async with AsyncClient() as client:                          # doctest: +SKIP
    ...     async for event in client.stream_chat("Say hi"):
    ...         print(event)
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(base_url, api_key, model=model, timeout=timeout, max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, **self._client_options())

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def _send(
        self, request: httpx.Request, *, stream: bool = False, accept: frozenset[int] = frozenset()
    ) -> httpx.Response:
        """Send with retries; returns a successful response (or one whose status is in `accept`)."""
        attempt = 0
        while True:
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, exc)
            else:
                if response.is_success or response.status_code in accept:
                    return response
                await response.aread()
                await response.aclose()
                delay = self._retry_delay(request, attempt, response)
            await self._sleep(delay)
            attempt += 1

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._send(call.request, accept=call.accept))

    async def chat(self, messages: Messages, **options: Unpack[ChatOptions]) -> ChatResult:
        """One chat turn (see `Client.chat`)."""
        return await self._run(self._chat_call(messages, **options))

    async def stream_chat(
        self, messages: Messages, **options: Unpack[ChatOptions]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one chat turn as typed events (see `Client.stream_chat`).

        To stop early, leave through `contextlib.aclosing(client.stream_chat(...))` so the
        connection (and the generation) ends at once rather than when the generator is collected.
        """
        request = self._chat_stream_request(messages, **options)
        response = await self._send(request, stream=True)
        assembler = ChatStreamAssembler(request_id_of(response))
        try:
            async for line in response.aiter_lines():
                for event in assembler.feed_line(line):
                    yield event
                if assembler.finished:
                    break
            for event in assembler.close():
                yield event
        except httpx.TransportError as exc:
            raise self._stream_broken(exc, request, assembler) from exc
        finally:
            await response.aclose()

    async def complete(
        self,
        prompt: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> CompletionResult:
        """A plain text completion of `prompt` (`/v1/completions`)."""
        return await self._run(self._completion_call(prompt, model, max_tokens, temperature))

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None
    ) -> EmbeddingResult:
        """One embedding vector per text."""
        return await self._run(self._embedding_call(texts, model))

    async def models(self) -> list[Model]:
        """The models this key may use."""
        return await self._run(self._models_call())

    async def health(self) -> HealthReport:
        """The gateway's readiness and its components; "not ready" is a result, not an error."""
        return await self._run(self._health_call())

    async def proxy_status(self) -> int:
        """Status of nginx's own `/nginx-health`: 200 when nginx is in front, 404 without one."""
        return await self._run(self._proxy_status_call())
