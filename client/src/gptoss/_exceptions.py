"""Every error the client raises, one class per thing that can go wrong.

```
APIError                              message, request_id
├── APIStatusError                    status_code, error_type, code, param, retry_after
│   ├── BadRequestError               400  the request is malformed
│   ├── AuthenticationError           401  missing or wrong API key
│   ├── PermissionDeniedError         403  the key may not do this (e.g. use this model)
│   ├── NotFoundError                 404  unknown model or path
│   ├── RequestTooLargeError          413  body over the gateway's limit
│   ├── RateLimitError                429  slow down; retry_after says for how long
│   └── InternalServerError           5xx
│       ├── BadGatewayError           502  Ollama answered with an error
│       ├── ServiceUnavailableError   503  Ollama unreachable, busy or still downloading the model
│       └── GatewayTimeoutError       504  Ollama took too long
├── APIStreamError                    the server reported an error after the stream began
└── APIConnectionError                the gateway could not be reached or the connection broke
    └── APITimeoutError               no answer within the configured timeout
```
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

REQUEST_ID_HEADER = "X-Request-ID"
_MAX_TEXT_BODY = 300


class APIError(Exception):
    """Base class of every error raised by `gptoss`; `message` says what went wrong."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


class APIStatusError(APIError):
    """The gateway answered with a 4xx/5xx status and (usually) an OpenAI error envelope."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.param = param
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status_code}: {super().__str__()}"


class BadRequestError(APIStatusError):
    """400: the gateway refused the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: no API key, or one the gateway does not know."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but not allowed to do this (for example use this model)."""


class NotFoundError(APIStatusError):
    """404: the model (or path) does not exist on this gateway."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is over the gateway's size limit."""


class RateLimitError(APIStatusError):
    """429: too many requests or tokens for this key; `retry_after` is the wait in seconds."""


class InternalServerError(APIStatusError):
    """5xx: the gateway or Ollama failed."""


class BadGatewayError(InternalServerError):
    """502: Ollama answered with an error."""


class ServiceUnavailableError(InternalServerError):
    """503: Ollama is unreachable, busy, or still downloading the model; see `retry_after`."""


class GatewayTimeoutError(InternalServerError):
    """504: Ollama did not answer within the gateway's timeout."""


class APIStreamError(APIError):
    """The server sent an error event after the stream had begun (the HTTP status was 200)."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.error_type = error_type
        self.code = code


class APIConnectionError(APIError):
    """The gateway could not be reached, or the connection broke before the answer was complete."""


class APITimeoutError(APIConnectionError):
    """No answer arrived within the configured timeout."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    429: RateLimitError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    with suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    error = decoded.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):  # Ollama-native shape: {"error": "message"}
        return {"message": error}
    return None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def status_error_from_response(response: httpx.Response) -> APIStatusError:
    """Build the exception matching a 4xx/5xx response whose body has been read."""
    status = response.status_code
    error = _error_object(response.content)
    if error is not None and error.get("message"):
        message = str(error["message"])
    else:
        text = response.text.strip()
        message = text[:_MAX_TEXT_BODY] if text else response.reason_phrase or f"HTTP {status}"
    cls = _STATUS_CLASSES.get(status, InternalServerError if status >= 500 else APIStatusError)
    error = error or {}
    return cls(
        message,
        status_code=status,
        request_id=response.headers.get(REQUEST_ID_HEADER),
        error_type=_optional_str(error.get("type")),
        code=_optional_str(error.get("code")),
        param=_optional_str(error.get("param")),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def stream_error_from_event(error: object, request_id: str | None) -> APIStreamError:
    """Build the exception for an `{"error": ...}` event received in the middle of a stream."""
    if isinstance(error, dict):
        return APIStreamError(
            str(error.get("message") or "the server reported an error during the stream"),
            request_id=request_id,
            error_type=_optional_str(error.get("type")),
            code=_optional_str(error.get("code")),
        )
    return APIStreamError(str(error), request_id=request_id)


_TIMEOUT_PHASES: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connecting to",
    httpx.ReadTimeout: "waiting for an answer from",
    httpx.WriteTimeout: "sending the request to",
    httpx.PoolTimeout: "waiting for a free connection to",
}


def connection_error_from(
    exc: httpx.TransportError, url: str, request_id: str | None = None
) -> APIConnectionError:
    """Translate an httpx transport failure into our connection/timeout errors."""
    if isinstance(exc, httpx.TimeoutException):
        phase = _TIMEOUT_PHASES.get(type(exc), "waiting for")
        return APITimeoutError(f"timed out {phase} {url}", request_id=request_id)
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"could not talk to {url}: {detail}", request_id=request_id)
