"""The asynchronous client: `Client`'s twin over `httpx.AsyncClient`, same settings and results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Unpack

import httpx

from ._base import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    EMBEDDINGS_PATH,
    MODELS_PATH,
    READY_PATH,
    BaseClient,
    ChatOptions,
    Messages,
    health_of,
    json_of,
    models_of,
    request_id_of,
)
from ._config import DEFAULT_MAX_RETRIES, ClientConfig
from ._exceptions import APIError, connection_error_from
from ._streaming import ChatStreamAssembler
from ._types import (
    JSON,
    ChatResult,
    CompletionResult,
    EmbeddingResult,
    HealthReport,
    Model,
    StreamEvent,
)


class AsyncClient(BaseClient):
    """Talks to the gateway from asyncio code; see `Client` for the settings and each method.

    >>> async with AsyncClient() as client:                          # doctest: +SKIP
    ...     async for event in client.stream_chat("Say hi"):
    ...         print(event)
    """

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
        super().__init__(
            ClientConfig.resolve(
                base_url=base_url,
                api_key=api_key,
                model=model,
                timeout=timeout,
                max_retries=max_retries,
            )
        )
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
            error: APIError
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                error, delay = self._transport_failure(exc, request, attempt)
                if delay is None:
                    raise error from exc
            else:
                if response.is_success or response.status_code in accept:
                    return response
                await response.aread()
                await response.aclose()
                error, delay = self._status_failure(response, attempt)
                if delay is None:
                    raise error
            await self._sleep(delay)
            attempt += 1

    async def _call(
        self, method: str, path: str, body: JSON | None = None
    ) -> tuple[JSON, str | None]:
        response = await self._send(self._http.build_request(method, path, json=body))
        return json_of(response), request_id_of(response)

    async def chat(self, messages: Messages, **options: Unpack[ChatOptions]) -> ChatResult:
        """One chat turn (see `Client.chat`)."""
        body = self._chat_body(messages, stream=False, **options)
        return ChatResult.from_json(*await self._call("POST", CHAT_PATH, body))

    async def stream_chat(
        self, messages: Messages, **options: Unpack[ChatOptions]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one chat turn as typed events (see `Client.stream_chat`).

        To stop early, leave through `contextlib.aclosing(client.stream_chat(...))` so the
        connection (and the generation) ends at once rather than when the generator is collected.
        """
        body = self._chat_body(messages, stream=True, **options)
        request = self._http.build_request("POST", CHAT_PATH, json=body)
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
            raise connection_error_from(exc, str(request.url), assembler.request_id) from exc
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
        body = self._completion_body(prompt, model, max_tokens, temperature)
        return CompletionResult.from_json(*await self._call("POST", COMPLETIONS_PATH, body))

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None
    ) -> EmbeddingResult:
        """One embedding vector per text."""
        body = self._embedding_body(texts, model)
        return EmbeddingResult.from_json(*await self._call("POST", EMBEDDINGS_PATH, body))

    async def models(self) -> list[Model]:
        """The models this key may use."""
        return models_of(await self._send(self._http.build_request("GET", MODELS_PATH)))

    async def health(self) -> HealthReport:
        """The gateway's readiness and its components; "not ready" is a result, not an error."""
        request = self._http.build_request("GET", READY_PATH)
        return health_of(await self._send(request, accept=frozenset({503})))
