"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import Unpack

import httpx

from ._base import BaseClient, Call, ChatOptions, Messages, T, request_id_of
from ._config import DEFAULT_MAX_RETRIES
from ._streaming import ChatStreamAssembler
from ._types import ChatResult, CompletionResult, EmbeddingResult, HealthReport, Model, StreamEvent


class Client(BaseClient):
    """Talks to the gateway synchronously.

    Settings come from the arguments, else `GPTOSS_BASE_URL` / `GPTOSS_API_KEY` / `GPTOSS_MODEL`,
    else `OPENAI_BASE_URL` / `OPENAI_API_KEY`. The base URL may end in `/v1` or not.

    >>> with Client() as client:                                     # doctest: +SKIP
    ...     print(client.chat("Say hi", reasoning_effort="low").content)
    """

    _http: httpx.Client

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, api_key, model=model, timeout=timeout, max_retries=max_retries)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, **self._client_options())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _send(
        self, request: httpx.Request, *, stream: bool = False, accept: frozenset[int] = frozenset()
    ) -> httpx.Response:
        """Send with retries; returns a successful response (or one whose status is in `accept`)."""
        attempt = 0
        while True:
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, exc)
            else:
                if response.is_success or response.status_code in accept:
                    return response
                response.read()
                response.close()
                delay = self._retry_delay(request, attempt, response)
            self._sleep(delay)
            attempt += 1

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._send(call.request, accept=call.accept))

    def chat(self, messages: Messages, **options: Unpack[ChatOptions]) -> ChatResult:
        """One chat turn. `messages` is a prompt string or a list of OpenAI messages.

        Options: `model`, `reasoning_effort` ("low", "medium", "high"), `tools` (OpenAI function
        tools), `response_format` (e.g. `{"type": "json_object"}` or a `json_schema`),
        `max_tokens`, `temperature`, and `extra` (more fields for the request body).
        """
        return self._run(self._chat_call(messages, **options))

    def stream_chat(
        self, messages: Messages, **options: Unpack[ChatOptions]
    ) -> Generator[StreamEvent, None, None]:
        """Like `chat`, but yields `ReasoningDelta`, `ContentDelta`, `ToolCall`, `Usage`, `Done`.

        The request is sent on the first `next()`. Failures before the answer starts are retried;
        once it has started, a failure raises (`APIStreamError`, `APIConnectionError`). Stopping
        the iteration early (break, Ctrl-C) closes the connection, which stops the generation.
        """
        request = self._chat_stream_request(messages, **options)
        response = self._send(request, stream=True)
        assembler = ChatStreamAssembler(request_id_of(response))
        try:
            for line in response.iter_lines():
                yield from assembler.feed_line(line)
                if assembler.finished:
                    break
            yield from assembler.close()
        except httpx.TransportError as exc:
            raise self._stream_broken(exc, request, assembler) from exc
        finally:
            response.close()

    def complete(
        self,
        prompt: str,
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> CompletionResult:
        """A plain text completion of `prompt` (`/v1/completions`)."""
        return self._run(self._completion_call(prompt, model, max_tokens, temperature))

    def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> EmbeddingResult:
        """One embedding vector per text."""
        return self._run(self._embedding_call(texts, model))

    def models(self) -> list[Model]:
        """The models this key may use."""
        return self._run(self._models_call())

    def health(self) -> HealthReport:
        """The gateway's readiness and its components; "not ready" is a result, not an error."""
        return self._run(self._health_call())

    def proxy_status(self) -> int:
        """Status of nginx's own `/nginx-health`: 200 when nginx is in front, 404 without one."""
        return self._run(self._proxy_status_call())
