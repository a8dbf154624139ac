"""Structured output (Ollama's ``format``) as Ollama 0.32.15 runs it on gpt-oss: in two passes.

ChatHandler (server/routes.go) runs the model first **without** the grammar; the first answer
token after the reasoning cancels that pass and a second pass, prompted with the reasoning, runs
with the schema, which llama-server (llm/llama_server.go) converts to a grammar only then. Three
consequences for the gateway:

* A schema llama.cpp's ``json-schema-to-grammar`` cannot convert fails **late**, after the
  reasoning, with llama-server's 400 body as Ollama's error. :func:`check_schema` refuses up front
  what every llama.cpp release refuses (a 400 ``unsupported_json_schema`` naming the problem),
  and :func:`late_schema_error` maps the late failure of anything else to the same 400.
* The second pass queues for the runner again and evaluates the whole prompt plus the reasoning
  before its first token: a silence the gateway cannot tell from the model thinking.
  :class:`PassGap` says when the stream may be in it (reasoning seen, no answer yet), and the
  client then allows the first-byte timeout again instead of the between-chunks one; the native
  relay, which does not read the lines, allows it for every silence of a ``format`` request
  (:func:`relay_silence_limit`).
* The grammar is never applied when no reasoning came before the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.settings import Settings

UNSUPPORTED_SCHEMA = "unsupported_json_schema"
# llama-server's message for a schema it could not convert (common/json-schema-to-grammar.cpp).
CONVERSION_FAILED = "JSON schema conversion failed"
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
MAX_SHOWN = 300
MAX_DEPTH = 256
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_UNIONS = ("anyOf", "oneOf")


def unsupported_schema(problem: str, param: str = "response_format") -> InvalidRequest:
    """The 400 for a schema Ollama's runner cannot turn into a grammar."""
    shown = problem[:MAX_SHOWN] + ("…" if len(problem) > MAX_SHOWN else "")
    return InvalidRequest(
        f"The JSON schema cannot be used for structured output: {shown}. Ollama's runner "
        "(llama.cpp) turns the schema into a grammar and supports only part of JSON Schema; "
        "simplify the schema (plain types, properties, items, enum, anchored patterns, local "
        "$refs) or ask for json_object.",
        code=UNSUPPORTED_SCHEMA,
        param=param,
    )


def check_schema(schema: object, param: str) -> None:
    """Refuse (400 ``unsupported_json_schema``) a schema every llama.cpp release rejects."""
    if not isinstance(schema, dict):
        raise unsupported_schema("the schema must be a JSON object", param)
    problem = next(_problems(schema, schema, 0), None)
    if problem is not None:
        raise unsupported_schema(problem, param)


def late_schema_error(message: str) -> InvalidRequest | None:
    """The 400 for Ollama's error ``message`` when it is llama-server refusing the schema."""
    if CONVERSION_FAILED not in message:
        return None
    detail = _runner_message(message)
    start = detail.find(CONVERSION_FAILED)
    return unsupported_schema(" ".join(detail[max(start, 0) :].split()))


def _runner_message(message: str) -> str:
    """The ``error.message`` of llama-server's JSON body, or ``message`` as it is."""
    try:
        body = orjson.loads(message)
    except orjson.JSONDecodeError:
        return message
    error = body.get("error") if isinstance(body, dict) else None
    text = error.get("message") if isinstance(error, dict) else None
    return text if isinstance(text, str) else message


def _problems(schema: dict[str, Any], root: dict[str, Any], depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        return  # deeper than Ollama can be sent anyway (gateway.upstream.client.encode: a 400)
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind is not None and kind not in JSON_TYPES:
            yield f"'type' {kind!r} is not a JSON type ({', '.join(sorted(JSON_TYPES))})"
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
        yield f"'pattern' {pattern!r} must start with '^' and end with '$'"
    ref = schema.get("$ref")
    if ref is not None and not _resolves(ref, root):
        yield f"'$ref' {ref!r} does not point inside the schema (use '#/$defs/<name>')"
    for key in _UNIONS:
        if key in schema and not (isinstance(schema[key], list) and schema[key]):
            yield f"'{key}' must be a non-empty array"
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        yield "'enum' must be a non-empty array"
    for sub in _subschemas(schema):
        yield from _problems(sub, root, depth + 1)


def _resolves(ref: object, root: dict[str, Any]) -> bool:
    """True for a local ``#/a/b`` reference to an existing member of the schema."""
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return False
    node: object = root
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in _SUBSCHEMA_LISTS:
        members = schema.get(key)
        if isinstance(members, list):
            yield from (s for s in members if isinstance(s, dict))
    for key in _SUBSCHEMA_MAPS:
        members = schema.get(key)
        if isinstance(members, dict):
            yield from (s for s in members.values() if isinstance(s, dict))
    for key in ("items", "additionalProperties", "not"):
        if isinstance(sub := schema.get(key), dict):
            yield sub
    if isinstance(items := schema.get("items"), list):
        yield from (s for s in items if isinstance(s, dict))


_FORMAT_FIELD = re.compile(rb'"(?i:format)"\s*:\s*(?!null)')


def relay_silence_limit(body: bytes | None, settings: Settings) -> float:
    """The longest silence allowed in a relayed native generation.

    The relay does not parse the lines it passes on, so a body asking for ``format`` (Go reads
    the key case-insensitively) gets the first-byte timeout for every silence: its second pass
    may start anywhere after the reasoning.
    """
    if body and _FORMAT_FIELD.search(body):
        return max(settings.first_byte_timeout, settings.chunk_timeout)
    return settings.chunk_timeout


class PassGap:
    """Whether a generation may be between the two passes of structured output.

    True once a ``format`` request showed reasoning and no answer yet: the next silence may be
    the second pass waiting for the runner and evaluating its prompt.
    """

    __slots__ = ("_active", "_answered", "_reasoned")

    def __init__(self, body: dict[str, Any]) -> None:
        self._active = body.get("format") is not None
        self._reasoned = self._answered = False

    def see(self, chunk: dict[str, Any]) -> None:
        """Look at one Ollama object (``/api/chat`` or ``/api/generate``)."""
        if not self._active or self._answered:
            return
        message = chunk.get("message")
        part = message if isinstance(message, dict) else chunk
        if part.get("content") or part.get("response") or part.get("tool_calls"):
            self._answered = True
        elif part.get("thinking"):
            self._reasoned = True

    @property
    def between_passes(self) -> bool:
        """True while the second pass may be starting (reasoning seen, no answer yet)."""
        return self._reasoned and not self._answered
