"""What `Client` and `AsyncClient` share: configuration, request bodies, answers, retry decisions.

Only sending and sleeping differ between the two; everything that can be written once lives here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypedDict, Unpack

import httpx

from ._config import ClientConfig
from ._exceptions import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APIError,
    APIStatusError,
    connection_error_from,
    status_error_from_response,
)
from ._retry import RetryPolicy, is_retryable_transport_error
from ._types import JSON, HealthReport, Model

Messages: TypeAlias = str | Sequence[Mapping[str, Any]]

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
READY_PATH = "/health/ready"


class ChatOptions(TypedDict, total=False):
    """Options of `chat` and `stream_chat` (see `Client.chat`)."""

    model: str | None
    reasoning_effort: str | None
    tools: Sequence[Mapping[str, Any]] | None
    response_format: Mapping[str, Any] | None
    max_tokens: int | None
    temperature: float | None
    extra: Mapping[str, Any] | None


def as_messages(messages: Messages) -> list[Mapping[str, Any]]:
    """A bare string is one user message; a sequence is the conversation as given."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not messages:
        raise ValueError("messages must not be empty")
    return list(messages)


def chat_body(
    messages: Messages, *, default_model: str, stream: bool, **options: Unpack[ChatOptions]
) -> JSON:
    """The `/v1/chat/completions` request body; options left out or None are not sent."""
    body: JSON = {
        "model": options.get("model") or default_model,
        "messages": as_messages(messages),
    }
    for key in ("reasoning_effort", "response_format", "max_tokens", "temperature"):
        if options.get(key) is not None:
            body[key] = options.get(key)
    if options.get("tools"):
        body["tools"] = list(options.get("tools") or ())
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(options.get("extra") or {})
    return body


def request_id_of(response: httpx.Response) -> str | None:
    """The gateway's id for this request (quote it when reporting a problem)."""
    value = response.headers.get(REQUEST_ID_HEADER)
    return str(value) if value else None


def json_of(response: httpx.Response) -> JSON:
    """The decoded JSON object of a successful response."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise APIError(
            f"expected a JSON object from {response.request.url}, got "
            f"{response.headers.get('content-type', 'no content type')}: {response.text[:100]!r}",
            request_id=request_id_of(response),
        )
    return data


def models_of(response: httpx.Response) -> list[Model]:
    """The entries of a `/v1/models` list."""
    items = json_of(response).get("data") or []
    return [Model.from_json(item) for item in items if isinstance(item, Mapping)]


def health_of(response: httpx.Response) -> HealthReport:
    """A readiness report from `/health/ready` (200 ready, 503 not ready)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    return HealthReport.from_json(
        data, ready=response.is_success, request_id=request_id_of(response)
    )


class BaseClient:
    """Configuration and retry decisions common to the sync and async clients."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._retry = RetryPolicy(max_retries=config.max_retries)

    @property
    def base_url(self) -> str:
        """The gateway's root URL (without `/v1`)."""
        return self.config.base_url

    @property
    def model(self) -> str:
        """The model used when a call does not name one."""
        return self.config.model

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.config.base_url,
            "headers": self.config.headers(),
            "timeout": self.config.timeout,
        }

    def _transport_failure(
        self, exc: httpx.TransportError, request: httpx.Request, attempt: int
    ) -> tuple[APIConnectionError, float | None]:
        """The error to raise for a transport failure, and the delay before a retry (or None)."""
        error = connection_error_from(exc, str(request.url))
        retryable = is_retryable_transport_error(exc)
        return error, self._retry.delay(attempt, error, retryable=retryable)

    def _status_failure(
        self, response: httpx.Response, attempt: int
    ) -> tuple[APIStatusError, float | None]:
        """The error for a 4xx/5xx response (body already read), and the delay before a retry."""
        error = status_error_from_response(response)
        retryable = RetryPolicy.retryable_status(error)
        return error, self._retry.delay(attempt, error, retryable=retryable)

    def _chat_body(
        self, messages: Messages, *, stream: bool, **options: Unpack[ChatOptions]
    ) -> JSON:
        return chat_body(messages, default_model=self.config.model, stream=stream, **options)

    def _completion_body(
        self, prompt: str, model: str | None, max_tokens: int | None, temperature: float | None
    ) -> JSON:
        body: JSON = {"model": model or self.config.model, "prompt": prompt}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        return body

    def _embedding_body(self, texts: str | Sequence[str], model: str | None) -> JSON:
        inputs = texts if isinstance(texts, str) else list(texts)
        return {"model": model or self.config.model, "input": inputs}
