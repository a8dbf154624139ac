"""Structured output (``format``) on a thinking model, as Ollama 0.32.15 runs it: two passes.

ChatHandler (server/routes.go) first runs the model **without** the grammar; the first answer token
after some reasoning cancels that pass, and a second pass re-prompts with the reasoning and the
final-channel header, this time with ``format`` sent to llama-server as ``json_schema``
(llm/llama_server.go ``Completion``), queued again for the runner's slot. llama-server converts the
schema to a grammar only then, so a schema it cannot convert fails **late**: after the reasoning
went out, with llama-server's own 400 body as the message (``api.StatusError``): a mid-stream
``{"error": ...}`` line when chunks were written (``streamResponse``), a 400 JSON body for
``stream: false`` (``writeChatResponse``). The final metrics are the second pass's: ``eval_count``
counts the answer only and ``prompt_eval_count`` includes the reasoning. Without reasoning before
the answer the grammar is never applied (one pass, no error).

The fake's runner refuses what llama.cpp's ``json-schema-to-grammar`` has always refused (a
``type`` that is not a JSON type, a ``pattern`` not anchored with ``^`` and ``$``) and, like
current llama.cpp, a string ``format`` it has no grammar for (``email``, ``uri``...): a schema the
gateway cannot refuse up front, which fails late.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
MAX_DEPTH = 256  # deeper schemas are not looked into (Python's recursion limit)
STRING_FORMATS = frozenset({"date", "time", "date-time"})
_UUID = re.compile(r"uuid[1-5]?")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


def two_passes(fmt: object, thinking: list[str]) -> bool:
    """True when the grammar waits for a second pass: a format after some reasoning."""
    return fmt is not None and bool(thinking)


def runner_error(fmt: object) -> str | None:
    """llama-server's 400 body for a schema it cannot turn into a grammar, else ``None``."""
    if not isinstance(fmt, dict):
        return None  # "json" is a built-in grammar
    problems = list(_problems(fmt, 0))
    if not problems:
        return None
    message = '"json_schema": JSON schema conversion failed:\n' + "\n".join(problems)
    body = {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}
    return orjson.dumps(body).decode()


def _problems(schema: dict[str, Any], depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        return
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind is not None and kind not in JSON_TYPES:
            yield "Unrecognized schema: " + orjson.dumps(schema).decode()
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
        yield "Pattern must start with '^' and end with '$'"
    fmt = schema.get("format")
    string_context = kinds in (None, "string") or isinstance(kinds, list)
    if string_context and isinstance(fmt, str) and not _known_format(fmt):
        yield f'Unsupported string "format": "{fmt}": ' + orjson.dumps(schema).decode()
    for sub in _subschemas(schema):
        yield from _problems(sub, depth + 1)


def _known_format(fmt: str) -> bool:
    """True for a string format llama.cpp has a grammar for (dates, times, UUIDs)."""
    return fmt in STRING_FORMATS or _UUID.fullmatch(fmt) is not None


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in _SUBSCHEMA_LISTS:
        yield from (s for s in schema.get(key) or () if isinstance(s, dict))
    for key in _SUBSCHEMA_MAPS:
        members = schema.get(key)
        if isinstance(members, dict):
            yield from (s for s in members.values() if isinstance(s, dict))
    for key in ("items", "additionalProperties"):
        if isinstance(sub := schema.get(key), dict):
            yield sub
