"""Deterministic "model output": how every reply is derived from its request.

Words are whitespace-separated; a token is one word (every word after the first carries its leading
space), so the concatenated tokens are the words joined by single spaces.

* **subject**: the content of the last ``user`` message (``/api/chat``) or the ``prompt``
  (``/api/generate``). When the last chat message has role ``tool``, the subject is that tool
  result and the answer prefix becomes ``Fake answer using <tool_name or "tool"> result:``.
* **thinking** (thinking models only, e.g. gpt-oss): the words
  ``Reasoning (<level>) about: <subject>`` fitted to ``thinking_tokens`` (level is ``low``,
  ``medium`` or ``high``; ``max`` maps to ``high``; booleans/omitted mean ``medium``).
* **content**: ``Fake answer to: <subject>`` fitted to ``content_tokens``. *Fitted* = cut to N
  words, or padded with the filler words ``lorem ipsum dolor sit amet consectetur adipiscing elit
  sed do eiusmod tempor`` (cycled).
* **format**: ``"json"`` gives ``{"answer":"<content words>"}``; a JSON schema gives a value built
  by :func:`value_from_schema`; the compact JSON text is cut into ``min(content_tokens, len)``
  nearly equal pieces (one per token).
* **format on a thinking model**: two passes like Ollama 0.32.15 (``fake_ollama.structured``):
  the reasoning, the second pass queued again for a slot and pausing ``first_token_delay`` (its
  prompt evaluation), then the JSON answer, or llama-server's 400 for a schema it cannot
  convert; ``eval_count`` counts the answer only and ``prompt_eval_count`` adds the reasoning.
* **tools** (when tools are given and the last message is from the user): no content; one call to
  the first tool whose name occurs in the subject (else the first tool), ``arguments`` built from
  its ``parameters`` schema; the call costs ``content_tokens`` tokens.
* **options.stop** is matched like Ollama 0.32.15 does (llama-server's ``stop`` on the raw
  output): in the thinking first, where a match ends the reply with no content and no tool call,
  then in the content, which is cut at the first stop string (``done_reason`` stays ``stop``);
  **options.num_predict** > 0 caps thinking + content (+ tool call) tokens, thinking first, and
  gives ``done_reason: "length"``; a cut inside the tool call ends the reply like Ollama 0.32.15
  does (harmony/harmonyparser.go): ``error parsing tool call: raw='<the arguments written so
  far>', err=unexpected end of JSON input`` in place of the done object (``fake_ollama.faults``).
* **prompt_eval_count**: chat = sum over messages of (4 + words of content + words of thinking)
  + 16 per tool, at least 1; generate = 4 + words of system + words of prompt.
* **embeddings**: SHAKE-256 of the UTF-8 text gives ``dim`` little-endian uint16 values, centred
  (minus 32767.5) and L2-normalised.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import string
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from fake_ollama.structured import runner_error, two_passes

FILLER = (
    *("lorem", "ipsum", "dolor", "sit", "amet", "consectetur"),
    *("adipiscing", "elit", "sed", "do", "eiusmod", "tempor"),
)
TOOL_CALL_ALPHABET = string.ascii_lowercase + string.digits
_MAX_SCHEMA_DEPTH = 8


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """What the reply depends on, already extracted from the HTTP request."""

    subject: str
    prefix: str = "Fake answer to:"
    think_level: str | None = None
    tools: Sequence[dict[str, Any]] = ()
    fmt: object = None
    thinking_tokens: int = 8
    content_tokens: int = 12
    num_predict: int = -1
    stop: Sequence[str] = ()


@dataclass(slots=True)
class Plan:
    """The tokens to emit, the tool calls for the end, and why generation stopped."""

    thinking: list[str]
    content: list[str]
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    done_reason: str = "stop"
    eval_count: int = 0
    # Ollama's error for a tool call cut by num_predict: sent in place of the done object.
    call_error: str | None = None
    # Structured output after reasoning: the answer comes from a second pass
    # (fake_ollama.structured) whose prompt also holds the reasoning (``prompt_extra`` tokens),
    # and which fails with llama-server's 400 body (``format_error``) for a schema it cannot
    # convert.
    second_pass: bool = False
    prompt_extra: int = 0
    format_error: str | None = None

    @property
    def late_error(self) -> tuple[int, str] | None:
        """(status, message) Ollama sends in place of the done object, if any."""
        if self.format_error is not None:
            return 400, self.format_error
        return None if self.call_error is None else (500, self.call_error)


def fit_words(words: Sequence[str], n: int) -> list[str]:
    """``words`` cut to ``n`` items, or padded with the cycled filler words."""
    out = list(words[:n])
    out.extend(FILLER[i % len(FILLER)] for i in range(n - len(out)))
    return out


def word_tokens(words: Sequence[str]) -> list[str]:
    """One token per word; every token after the first starts with a space."""
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def split_pieces(text: str, n: int) -> list[str]:
    """``text`` cut into ``min(n, len(text))`` consecutive, nearly equal pieces."""
    count = min(n, len(text))
    if count <= 0:
        return []
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(count)]


def thinking_text_words(level: str, subject: str, n: int) -> list[str]:
    """Words of the reasoning trace."""
    return fit_words(["Reasoning", f"({level})", "about:", *subject.split()], n)


def content_text_words(prefix: str, subject: str, n: int) -> list[str]:
    """Words of the plain-text answer."""
    return fit_words([*prefix.split(), *subject.split()], n)


def value_from_schema(
    schema: object, key: str = "value", root: object = None, depth: int = 0
) -> Any:
    """A deterministic JSON value matching ``schema`` (properties, types, enum, const, $ref...)."""
    root = schema if root is None else root
    if depth > _MAX_SCHEMA_DEPTH or not isinstance(schema, dict):
        return f"fake-{key}"
    if isinstance(ref := schema.get("$ref"), str):
        return value_from_schema(_resolve_ref(root, ref), key, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(enum := schema.get("enum"), list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return value_from_schema((usable or options)[0], key, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return _value_of_kind(schema, str(kind), key, root, depth)


def _value_of_kind(schema: dict[str, Any], kind: str, key: str, root: object, depth: int) -> Any:
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        value = {k: value_from_schema(v, k, root, depth + 1) for k, v in props.items()}
        for name in schema.get("required") or ():
            value.setdefault(str(name), f"fake-{name}")
        return value
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [value_from_schema(schema.get("items", {}), key, root, depth + 1)] * count
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _FORMATTED.get(str(schema.get("format")), f"fake-{key}")


_FORMATTED = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "fake@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _resolve_ref(root: object, ref: str) -> object:
    node = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def tool_call(tools: Sequence[dict[str, Any]], subject: str) -> dict[str, Any]:
    """One call to the tool named in ``subject`` (else the first tool), Ollama-native shape."""
    functions = [t.get("function") or {} for t in tools]
    lowered = subject.lower()
    chosen = next(
        (f for f in functions if str(f.get("name", "")) and str(f["name"]).lower() in lowered),
        functions[0],
    )
    parameters = chosen.get("parameters") or {"type": "object", "properties": {}}
    arguments = value_from_schema(parameters)
    return {
        "id": "call_" + "".join(secrets.choice(TOOL_CALL_ALPHABET) for _ in range(8)),
        "function": {
            "index": 0,
            "name": str(chosen.get("name", "")),
            "arguments": arguments if isinstance(arguments, dict) else {},
        },
    }


def plan_reply(req: ReplyRequest) -> Plan:
    """All tokens of one reply (see the module docstring for the rules)."""
    thinking: list[str] = []
    if req.think_level is not None:
        thinking = word_tokens(
            thinking_text_words(req.think_level, req.subject, req.thinking_tokens)
        )
    if req.stop and (cut := _apply_stop(thinking, req.stop)) != thinking:
        plan = Plan(cut, [])  # the stop string fired in the reasoning: nothing follows
        cost = 0
        thinking = cut
    elif req.tools:
        plan = Plan(thinking, [], [tool_call(req.tools, req.subject)])
        cost = req.content_tokens
    else:
        plan = Plan(thinking, _apply_stop(_content_tokens(req), req.stop))
        cost = len(plan.content)
    plan.eval_count = len(thinking) + cost
    budget = req.num_predict
    if 0 < budget < plan.eval_count:
        if plan.tool_calls and budget > len(thinking):  # the call was being written
            written = (budget - len(thinking)) / cost
            plan.call_error = tool_call_error(plan.tool_calls[0], written)
        plan.thinking = thinking[:budget]
        plan.content = plan.content[: budget - len(plan.thinking)]
        plan.tool_calls = []
        plan.done_reason = "length"
        plan.eval_count = budget
    if two_passes(req.fmt, plan.thinking) and plan.content:
        _second_pass(plan, req.fmt)
    return plan


def _second_pass(plan: Plan, fmt: object) -> None:
    """Make ``plan`` the two passes of structured output (see ``fake_ollama.structured``)."""
    plan.second_pass = True
    plan.prompt_extra = len(plan.thinking)
    plan.format_error = runner_error(fmt)
    if plan.format_error is not None:
        plan.content = []
    plan.eval_count = len(plan.content)  # the final metrics are the second pass's


TOOL_CALL_ERROR = "error parsing tool call: "
TRUNCATED_JSON = "unexpected end of JSON input"  # Go's json.Unmarshal on a cut object


def tool_call_error(call: dict[str, Any], written: float = 0.5) -> str:
    """Ollama's error for ``call`` with only the ``written`` share of its arguments written.

    The text of ``HarmonyMessageHandler.Add`` (harmony/harmonyparser.go, v0.32.15):
    ``error parsing tool call: raw='%s', err=%w``, ``raw`` being the arguments' text so far.
    """
    text = orjson.dumps(call.get("function", {}).get("arguments", {})).decode()
    raw = text[: min(len(text) - 1, max(1, int(len(text) * written)))]
    return f"{TOOL_CALL_ERROR}raw='{raw}', err={TRUNCATED_JSON}"


def _content_tokens(req: ReplyRequest) -> list[str]:
    words = content_text_words(req.prefix, req.subject, req.content_tokens)
    if req.fmt is None:
        return word_tokens(words)
    value = {"answer": " ".join(words)} if req.fmt == "json" else value_from_schema(req.fmt)
    return split_pieces(orjson.dumps(value).decode(), req.content_tokens)


def _apply_stop(tokens: list[str], stops: Sequence[str]) -> list[str]:
    text = "".join(tokens)
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    if cut < 0:
        return tokens
    out: list[str] = []
    pos = 0
    for tok in tokens:
        if pos + len(tok) > cut:
            if cut > pos:
                out.append(tok[: cut - pos])
            break
        out.append(tok)
        pos += len(tok)
    return out


def words(text: object) -> int:
    """Number of whitespace-separated words of a string (0 for anything else)."""
    return len(text.split()) if isinstance(text, str) else 0


def count_chat_prompt(messages: Sequence[dict[str, Any]], tools: Sequence[object]) -> int:
    """Deterministic ``prompt_eval_count`` of a chat request."""
    total = sum(4 + words(m.get("content")) + words(m.get("thinking")) for m in messages)
    return max(1, total + 16 * len(tools))


def count_text_prompt(prompt: str, system: str = "") -> int:
    """Deterministic ``prompt_eval_count`` of a generate request."""
    return 4 + words(system) + words(prompt)


def context_ids(text: str) -> list[int]:
    """Fake token ids (``context`` of ``/api/generate``): CRC32 of each word, modulo 200000."""
    return [zlib.crc32(w.encode()) % 200_000 for w in text.split()]


def embedding(text: str, dim: int) -> list[float]:
    """Deterministic unit vector for ``text`` (see the module docstring)."""
    raw = struct.unpack(f"<{dim}H", hashlib.shake_256(text.encode()).digest(2 * dim))
    centred = [v - 32767.5 for v in raw]
    norm = math.sqrt(math.fsum(v * v for v in centred)) or 1.0
    return [v / norm for v in centred]
