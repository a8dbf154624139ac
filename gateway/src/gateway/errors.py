"""Every error the gateway answers with, in OpenAI's envelope, and the one place mapping them.

    GatewayError (status, type, code, param, message, headers)
     ├── InvalidRequest          400 invalid_request_error
     ├── AuthenticationFailed    401 invalid_api_key          (WWW-Authenticate: Bearer)
     ├── PermissionDenied        403 permission_error
     ├── NotFound                404 not_found_error           (model_not_found, ...)
     ├── MethodNotAllowed        405 invalid_request_error
     ├── RequestTooLarge         413 request_too_large
     ├── RateLimited             429 rate_limit_exceeded       (Retry-After)
     ├── UpstreamError           502 upstream_error            (Ollama answered 5xx / garbage)
     │    └── ModelOutputInvalid 502 model_output_invalid      (the model wrote a tool call
     │                                                          Ollama could not parse)
     ├── ServiceUnavailable      503 service_unavailable       (Retry-After: unreachable, busy,
     │    │                                                     model still downloading)
     │    └── ServerOverloaded   503 server_overloaded         (every slot busy, queue full or
     │                                                          waited too long)
     └── UpstreamTimeout         504 upstream_timeout

The body is always ``{"error": {"message", "type", "param", "code"}}`` so that the official
``openai`` SDK raises the matching exception class (BadRequestError, AuthenticationError, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway.context import context_of


class GatewayError(Exception):
    """An error with an HTTP status, rendered in OpenAI's error envelope."""

    status: int = 500
    type: str = "api_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_response(self) -> Response:
        """A JSON response carrying the envelope, status and headers."""
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


class InvalidRequest(GatewayError):
    """400: the request is malformed or asks for something unsupported."""

    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    """401: the API key is missing, wrong, expired or disabled."""

    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class PermissionDenied(GatewayError):
    """403: the key is valid but may not do this."""

    status = 403
    type = "permission_error"


class NotFound(GatewayError):
    """404: the model or route does not exist."""

    status = 404
    type = "not_found_error"


class RequestTooLarge(GatewayError):
    """413: the request body exceeds the configured maximum."""

    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    """429: a rate limit was hit; ``retry_after`` seconds until it frees up."""

    status = 429
    type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = {**(headers or {}), "Retry-After": str(max(1, retry_after))}
        super().__init__(message, code=code, headers=merged)
        self.retry_after = retry_after


class MethodNotAllowed(GatewayError):
    """405: the route exists but not with this HTTP method."""

    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class UpstreamError(GatewayError):
    """502: Ollama answered with a server error or something unreadable."""

    status = 502
    type = "api_error"
    default_code = "upstream_error"


class ModelOutputInvalid(UpstreamError):
    """502 ``model_output_invalid``: the model wrote a tool call Ollama could not parse.

    Ollama and the gateway worked; the model's output was unusable (malformed arguments, or a
    call cut by the token limit), so the same request may well succeed when sent again.
    """

    default_code = "model_output_invalid"


class ToolChoiceNotFollowed(UpstreamError):
    """502 ``tool_choice_not_followed``: ``tool_choice`` demanded a tool call and the model
    answered without one, even when asked again (Ollama cannot force a call)."""

    default_code = "tool_choice_not_followed"


class ServiceUnavailable(GatewayError):
    """503: Ollama is unreachable, busy, or the model is still downloading."""

    status = 503
    type = "api_error"
    default_code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ServerOverloaded(ServiceUnavailable):
    """503 ``server_overloaded``: every generation slot is busy and the queue is full, or the
    request waited longer than the queue allows."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after, code="server_overloaded")


class UpstreamTimeout(GatewayError):
    """504: Ollama did not answer in time."""

    status = 504
    type = "api_error"
    default_code = "upstream_timeout"


class GenerationTimeCapped(UpstreamTimeout):
    """504: a whole (non-streamed) answer ran past ``GATEWAY_MAX_GENERATION_SECONDS``."""

    default_code = "generation_time_limit"


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "null"})


def _validation_param(error: Mapping[str, Any]) -> str | None:
    """Dotted name of the offending field (``messages.0.role``), without the ``body`` prefix.

    pydantic adds the member type of a union to the location (``stop.str``,
    ``stop.list[str]``); those tags are not parameter names and are dropped.
    """
    loc = [
        str(part)
        for part in error.get("loc", ())
        if part != "body" and not (isinstance(part, str) and _is_type_tag(part))
    ]
    return ".".join(loc) or None


def _is_type_tag(part: str) -> bool:
    return part in _TYPE_TAGS or "[" in part or part.startswith(("function-", "tagged-union"))


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "string_type": "a string",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}
_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a decimal number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    """Turn FastAPI's 422 validation error into OpenAI's 400 naming the parameter.

    Wording follows OpenAI's: ``Invalid type for 'max_tokens': expected an integer, but got a
    string instead.``, ``Missing required parameter: 'messages'.``, ``Invalid value for ...``.
    """
    errors = exc.errors()
    if not errors:
        return InvalidRequest("The request body is invalid.")
    first = errors[0]
    param = _validation_param(first)
    kind = first.get("type")
    if kind == "json_invalid":
        return InvalidRequest(
            "The request body is not valid JSON. Send a JSON object with "
            "Content-Type: application/json.",
            code="invalid_json",
        )
    if kind == "missing" and param:
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    value = first.get("input")
    if kind == "int_type" and param and isinstance(value, float) and value.is_integer():
        return InvalidRequest(
            f"Invalid value for '{param}': the integer is out of range (it needs more than 64 "
            "bits).",
            param=param,
            code="invalid_value",
        )
    if kind in _EXPECTED and param:
        got = _JSON_NAMES.get(type(value), "another type")
        return InvalidRequest(
            f"Invalid type for '{param}': expected {_EXPECTED[str(kind)]}, but got {got} instead.",
            param=param,
            code="invalid_type",
        )
    if param is None and kind in _EXPECTED:
        return InvalidRequest(
            "The request body must be a JSON object. Send a JSON object with "
            "Content-Type: application/json.",
            code="invalid_type",
        )
    where = f"'{param}'" if param else "the request body"
    code = str(kind) if kind in _OWN_CODES else "invalid_value"
    return InvalidRequest(
        f"Invalid value for {where}: {first.get('msg', 'invalid')}.", param=param, code=code
    )


# Codes raised by the gateway's own validators (protocol models), passed through as the code.
_OWN_CODES = frozenset(
    {"unsupported_parameter", "missing_tool_call_id", "missing_content", "n_unsupported"}
)


def http_error(status: int, detail: str) -> GatewayError:
    """The envelope for Starlette's own HTTP errors (unknown route, wrong method, ...)."""
    if status == 404:
        return NotFound("No such route. See GET /v1/models and the README for the API.")
    if status == 405:
        return MethodNotAllowed("This HTTP method is not allowed on this route.")
    err = GatewayError(detail)
    err.status = status
    return err


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to the OpenAI envelope (validation is 400, not 422)."""

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        error = cast(GatewayError, exc)
        ctx = context_of(request.scope)
        if ctx is not None:
            ctx.record_error(error.status, error.code)
        return error.to_response()

    async def on_validation(_: Request, exc: Exception) -> Response:
        return validation_error(cast(RequestValidationError, exc)).to_response()

    async def on_http(_: Request, exc: Exception) -> Response:
        http_exc = cast(StarletteHTTPException, exc)
        return http_error(http_exc.status_code, str(http_exc.detail)).to_response()

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
