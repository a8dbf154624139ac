"""Strict JSON request bodies: decoded once with orjson, refused with a 400 naming the field.

FastAPI decodes bodies with the standard library, which accepts what no JSON encoder downstream
can write back: lone UTF-16 surrogates (``"\\ud800"``), ``NaN`` and ``Infinity``, numbers that
overflow a double (``1e400``). Such a body used to reach ``orjson.dumps`` on the way to Ollama
and fail there with a 500. :class:`StrictJSONRoute` decodes the body first with ``orjson``,
which refuses all of them (and nests at most 1,024 levels deep); only when it refuses does the
slow path run the standard library again to find *which* field is at fault, so the 400 can
name it. Integers beyond 64 bits decode as floats, which the request models' strict integer
fields refuse with their own 400.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import InvalidRequest
from gateway.upstream.cancellation import ClientClosedRequest

_SEND_JSON = "Send a JSON object with Content-Type: application/json."


class DecodedJSONRequest(Request):
    """A request whose body was already read and strictly decoded by :class:`StrictJSONRoute`."""

    def __init__(self, request: Request, body: bytes, decoded: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._raw = body
        self._decoded = decoded

    async def body(self) -> bytes:
        """The body bytes, read once by the route."""
        return self._raw

    async def json(self) -> Any:
        """The body decoded by ``orjson`` (never re-parsed)."""
        return self._decoded


class StrictJSONRoute(APIRoute):
    """An API route whose JSON body is decoded strictly before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind a strict decode of JSON bodies."""
        handle = super().get_route_handler()

        async def decode_then_handle(request: Request) -> Response:
            if _is_json(request.headers.get("content-type")):
                try:
                    body = await request.body()
                except ClientDisconnect:  # left while sending the body: nobody to answer
                    raise ClientClosedRequest(
                        "The client left before sending its whole body."
                    ) from None
                if body:
                    request = DecodedJSONRequest(request, body, decode_json(body))
            return await handle(request)

        return decode_then_handle


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI would decode this body as JSON (no content type counts as JSON)."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def decode_json(body: bytes) -> Any:
    """``body`` decoded as JSON, or an :class:`InvalidRequest` saying what is wrong and where."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _explain(body, error) from None


def _explain(body: bytes, error: orjson.JSONDecodeError) -> InvalidRequest:
    """Why orjson refused ``body``: find the field with the standard library (slow path)."""
    if "depth" in error.msg or "recursion" in error.msg:
        return InvalidRequest(
            "The request body nests JSON arrays or objects more than 1024 levels deep. "
            "Flatten the data.",
            code="invalid_json",
        )
    try:
        lenient = json.loads(body, parse_constant=_Constant)
    except UnicodeDecodeError:
        return InvalidRequest(
            f"The request body is not valid UTF-8. {_SEND_JSON}", code="invalid_encoding"
        )
    except json.JSONDecodeError as lenient_error:
        where = f"line {lenient_error.lineno} column {lenient_error.colno}"
        return InvalidRequest(
            f"The request body is not valid JSON ({lenient_error.msg} at {where}). {_SEND_JSON}",
            code="invalid_json",
        )
    except (RecursionError, ValueError):  # e.g. an integer of thousands of digits
        lenient = None
    found = _first_unrepresentable(lenient)
    if found is None:
        return InvalidRequest(
            f"The request body is not valid JSON ({error.msg}). {_SEND_JSON}", code="invalid_json"
        )
    param, problem, code = found
    if param == "body":
        return InvalidRequest(f"Invalid key in the request body: {problem}", code=code)
    return InvalidRequest(f"Invalid value for '{param}': {problem}", param=param, code=code)


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` as the standard library met them."""


_SURROGATE = (
    "the text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is "
    "not valid Unicode. Escape a character outside the BMP as a complete surrogate pair, or send "
    "it as UTF-8.",
    "invalid_unicode",
)
_NOT_FINITE = ("NaN and Infinity are not JSON numbers; send a finite number.", "invalid_number")
_OVERFLOW = ("the number is too large (it overflows a 64-bit float).", "invalid_number")


def _problem_of(item: Any) -> tuple[str, str] | None:
    """What is wrong with one scalar, if anything."""
    if isinstance(item, _Constant):
        return _NOT_FINITE
    if isinstance(item, str):
        return None if _is_valid_unicode(item) else _SURROGATE
    if isinstance(item, float) and not math.isfinite(item):
        return _OVERFLOW
    if isinstance(item, int) and not isinstance(item, bool):
        try:
            float(item)
        except OverflowError:
            return _OVERFLOW
    return None


def _first_unrepresentable(value: Any) -> tuple[str, str, str] | None:
    """Dotted path, problem and error code of the first value orjson cannot represent.

    Iterative (no recursion on hostile nesting); object keys are checked as well as values.
    """
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if not _is_valid_unicode(key):
                    return (path, *_SURROGATE)
            stack.extend((_child(path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((_child(path, i), child) for i, child in reversed(list(enumerate(item))))
        elif (problem := _problem_of(item)) is not None:
            return (path, *problem)
    return None


def _child(path: str, name: object) -> str:
    return str(name) if path == "body" else f"{path}.{name}"


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
