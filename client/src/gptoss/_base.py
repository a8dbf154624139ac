"""What `Client` and `AsyncClient` share: configuration, requests, answers, retry decisions.

Only sending, sleeping and iterating differ between the two; everything else lives here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypedDict, TypeVar, Unpack

import httpx

from ._config import ClientConfig
from ._exceptions import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APIError,
    connection_error_from,
    status_error_from_response,
)
from ._retry import RetryPolicy, is_retryable_transport_error
from ._streaming import ChatStreamAssembler
from ._types import JSON, ChatResult, CompletionResult, EmbeddingResult, HealthReport, Model

Messages: TypeAlias = str | Sequence[Mapping[str, Any]]
T = TypeVar("T")

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
READY_PATH = "/health/ready"
PROXY_HEALTH_PATH = "/nginx-health"


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


def result_of(parse: Callable[[JSON, str | None], T]) -> Callable[[httpx.Response], T]:
    """A response reader for a result type built from the JSON body and the request id."""

    def read(response: httpx.Response) -> T:
        return parse(json_of(response), request_id_of(response))

    return read


def models_of(response: httpx.Response) -> list[Model]:
    """The entries of a `/v1/models` list."""
    items = json_of(response).get("data") or []
    return [Model.from_json(item) for item in items if isinstance(item, Mapping)]


def status_of(response: httpx.Response) -> int:
    """Just the HTTP status of an answer."""
    return response.status_code


def health_of(response: httpx.Response) -> HealthReport:
    """A readiness report from `/health/ready` (200 ready, 503 not ready)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    return HealthReport.from_json(
        data, ready=response.is_success, request_id=request_id_of(response)
    )


class RequestBuilder(Protocol):
    """What the base needs of `httpx.Client` / `httpx.AsyncClient`: building (not sending)."""

    def build_request(self, method: str, url: str, *, json: Any = None) -> httpx.Request:
        """A request against the client's base URL, with its headers and timeout."""
        ...


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call without its transport: the request, and how to read a successful answer."""

    request: httpx.Request
    parse: Callable[[httpx.Response], T]
    #: Statuses that are an answer rather than an error (e.g. 503 "not ready" for health).
    accept: frozenset[int] = frozenset()


class BaseClient:
    """Everything `Client` and `AsyncClient` share; they only send, sleep and iterate.

    Each `_*_call` method builds the request of one endpoint and names the reader of its answer;
    `_retry_delay` decides, after a failed attempt, whether and when to send again.
    """

    _http: RequestBuilder

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        model: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._retry = RetryPolicy(max_retries=self.config.max_retries)

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

    def _retry_delay(
        self, request: httpx.Request, attempt: int, outcome: httpx.Response | httpx.TransportError
    ) -> float:
        """Seconds to wait before sending again after failed attempt `attempt` (0-based).

        `outcome` is the transport failure, or the 4xx/5xx response (body already read). When
        the failure is not worth a retry, or retries are used up, raises the matching `APIError`.
        """
        if isinstance(outcome, httpx.TransportError):
            error: APIError = connection_error_from(outcome, str(request.url))
            retryable = is_retryable_transport_error(outcome)
        else:
            error = status_error_from_response(outcome)
            retryable = RetryPolicy.retryable_status(error)
        delay = self._retry.delay(attempt, error, retryable=retryable)
        if delay is None:
            if isinstance(outcome, httpx.TransportError):
                raise error from outcome
            raise error
        return delay

    def _chat_stream_request(
        self, messages: Messages, **options: Unpack[ChatOptions]
    ) -> httpx.Request:
        body = chat_body(messages, default_model=self.config.model, stream=True, **options)
        return self._http.build_request("POST", CHAT_PATH, json=body)

    def _stream_broken(
        self, exc: httpx.TransportError, request: httpx.Request, assembler: ChatStreamAssembler
    ) -> APIConnectionError:
        """The error for a connection that failed after the streamed answer had begun."""
        return connection_error_from(exc, str(request.url), assembler.request_id)

    def _chat_call(self, messages: Messages, **options: Unpack[ChatOptions]) -> Call[ChatResult]:
        body = chat_body(messages, default_model=self.config.model, stream=False, **options)
        request = self._http.build_request("POST", CHAT_PATH, json=body)
        return Call(request, result_of(ChatResult.from_json))

    def _completion_call(
        self, prompt: str, model: str | None, max_tokens: int | None, temperature: float | None
    ) -> Call[CompletionResult]:
        body: JSON = {"model": model or self.config.model, "prompt": prompt}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        request = self._http.build_request("POST", COMPLETIONS_PATH, json=body)
        return Call(request, result_of(CompletionResult.from_json))

    def _embedding_call(
        self, texts: str | Sequence[str], model: str | None
    ) -> Call[EmbeddingResult]:
        inputs = texts if isinstance(texts, str) else list(texts)
        body = {"model": model or self.config.model, "input": inputs}
        request = self._http.build_request("POST", EMBEDDINGS_PATH, json=body)
        return Call(request, result_of(EmbeddingResult.from_json))

    def _models_call(self) -> Call[list[Model]]:
        return Call(self._http.build_request("GET", MODELS_PATH), models_of)

    def _health_call(self) -> Call[HealthReport]:
        request = self._http.build_request("GET", READY_PATH)
        return Call(request, health_of, accept=frozenset({503}))

    def _proxy_status_call(self) -> Call[int]:
        request = self._http.build_request("GET", PROXY_HEALTH_PATH)
        return Call(request, status_of, accept=frozenset({404}))
