"""The gateway's own corpus of hostile requests, as data, with what outcome each may have.

Each :class:`Case` is one request (method, target, headers, body — or the raw bytes, for framing
cases) with a name, a class (``json``, ``types``, ``numbers``, ``unicode``, ``nesting``, ``size``,
``framing``, ``methods``, ``headers``, ``paths``, ``auth``) and an :class:`Expect`: which statuses
are acceptable, whether a success is fine too, and which liberties the server may take (close the
connection, answer in Ollama's own error shape on the relayed ``/api/*`` routes, or let the HTTP
parser itself refuse the bytes). :func:`judge` applies the rules every case shares:

* an answer within the deadline (no hang), never a 5xx (``statuses`` may name a 5xx that HTTP
  itself prescribes, e.g. 501 for an unknown transfer coding),
* every error body is OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}`` with
  ``Content-Type: application/json`` — except where HTTP allows no body, and, when the gateway is
  called directly (no nginx), the plain-text 400 that uvicorn's HTTP parser sends for bytes it
  cannot parse (``parser_may_reject``),
* the keep-alive connection stays open unless the case allows closing it.

The harnesses (``tests/unit/gateway/test_hostile_requests.py`` directly against the gateway,
``tests/e2e/test_hostile_requests.py`` through nginx) also send an innocent request after each
case — on the same connection when it is still open — and it must succeed.

``@@HOST@@`` and ``@@KEY@@`` in a request are replaced by the target's ``Host`` and a valid key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tests.support.rawhttp import Outcome, request_bytes

HOST = b"@@HOST@@"
KEY = b"@@KEY@@"

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
MODELS = "/v1/models"
API_CHAT = "/api/chat"
API_GENERATE = "/api/generate"
API_EMBED = "/api/embed"
API_SHOW = "/api/show"
API_TAGS = "/api/tags"
API_PULL = "/api/pull"
HEALTH_LIVE = "/health/live"
HEALTH_READY = "/health/ready"
METRICS = "/metrics"

MODEL = "gpt-oss-20b"
NATIVE_MODEL = "gpt-oss:20b"
# gpt-oss cannot embed (Ollama answers 501); absent from the fake, this one is a 404 at worst.
EMBEDDING_MODEL = "nomic-embed-text"
BIG = 2**70  # 1180591620717411303424: beyond 64 bits
DIGITS_400 = "9" * 400

CLASSES = (
    "json",
    "types",
    "numbers",
    "unicode",
    "nesting",
    "size",
    "framing",
    "methods",
    "headers",
    "paths",
    "auth",
)


@dataclass(frozen=True)
class Expect:
    """The acceptable outcomes of a case.

    ``statuses`` empty means "any 4xx". ``success_ok``: a 2xx is fine too (the request is odd but
    legal). ``parser_may_reject``: the HTTP parser in front of the app (uvicorn) may refuse it
    with its own plain-text 400 when there is no nginx. ``may_close``: the server may close the
    connection after answering. ``no_answer_ok``: the request is incomplete by design (we
    half-close), so the server may just close. ``ollama_shape_ok``: a relayed ``/api/*`` error may
    be Ollama's own ``{"error": "..."}``. ``fresh_connection``: the bytes leave the connection in
    an unknowable state (pipelining, desync, half-close): the innocent request uses a new one.
    ``http09_ok``: a request line without a version is HTTP/0.9, answered by a bare body.
    """

    statuses: frozenset[int] = frozenset()
    success_ok: bool = False
    parser_may_reject: bool = False
    may_close: bool = False
    no_answer_ok: bool = False
    ollama_shape_ok: bool = False
    fresh_connection: bool = False
    http09_ok: bool = False

    def allows_status(self, status: int) -> bool:
        """True when ``status`` is one of the acceptable statuses."""
        if self.success_ok and 200 <= status < 300:
            return True
        if self.statuses:
            return status in self.statuses
        return 400 <= status < 500


def expect(*statuses: int, **flags: bool) -> Expect:
    """Shorthand: ``expect(400)``, ``expect(success_ok=True)``, ``expect(404, 405)``."""
    return Expect(statuses=frozenset(statuses), **flags)


BAD = expect(400)
ANY_4XX = expect()
LENIENT = expect(success_ok=True)
NATIVE_BAD = expect(ollama_shape_ok=True)
NATIVE_LENIENT = expect(success_ok=True, ollama_shape_ok=True)
UNAUTHORIZED = expect(401)
NOT_FOUND = expect(404)
TOO_LARGE = expect(413, may_close=True)
FRAMING = expect(parser_may_reject=True, may_close=True)
DESYNC = expect(parser_may_reject=True, may_close=True, fresh_connection=True)
INCOMPLETE = expect(parser_may_reject=True, may_close=True, no_answer_ok=True)
HTTP09 = replace(FRAMING, fresh_connection=True, no_answer_ok=True, http09_ok=True)
INCOMPLETE = replace(INCOMPLETE, statuses=frozenset(range(400, 500)), fresh_connection=True)


@dataclass(frozen=True)
class Case:
    """One hostile request and its acceptable outcomes.

    Built from parts (``method``, ``target``, ``headers``, ``body``; ``Host``, ``Authorization``,
    ``Content-Type`` and ``Content-Length`` are added unless switched off) or given whole as
    ``raw`` bytes. ``counts_auth_failure``: sends a wrong key, which the gateway's failed-auth
    limiter counts against the client address.
    """

    name: str
    klass: str
    expect: Expect
    method: str = "POST"
    target: bytes = CHAT.encode()
    body: bytes | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    auth: bool = True
    host: bool = True
    content_type: bytes | None = b"application/json"
    content_length: bool = True
    raw: bytes | None = None
    half_close: bool = False
    counts_auth_failure: bool = False

    @property
    def response_method(self) -> str:
        """The method whose response the client must parse (HEAD has no body)."""
        return "HEAD" if self.method == "HEAD" else "GET"

    def request(self, host: str, key: str) -> bytes:
        """The exact bytes to send to a server reachable as ``host`` that accepts ``key``."""
        if self.raw is not None:
            data = self.raw
        else:
            headers: list[tuple[bytes, bytes]] = []
            if self.host:
                headers.append((b"Host", HOST))
            if self.auth:
                headers.append((b"Authorization", b"Bearer " + KEY))
            if self.body is not None and self.content_type is not None:
                headers.append((b"Content-Type", self.content_type))
            if self.body is not None and self.content_length:
                headers.append((b"Content-Length", str(len(self.body)).encode()))
            headers += self.headers
            data = request_bytes(self.method, self.target, headers, self.body)
        return data.replace(HOST, host.encode()).replace(KEY, key.encode())


def innocent_request(host: str, key: str) -> bytes:
    """An ordinary authenticated request that must always succeed (``GET /v1/models``)."""
    headers = [(b"Host", host.encode()), (b"Authorization", f"Bearer {key}".encode())]
    return request_bytes("GET", MODELS, headers)


# ---- judging ------------------------------------------------------------------------------------

_ENVELOPE_FIELDS = ("message", "type", "param", "code")


def envelope_problem(body: bytes, *, ollama_shape_ok: bool = False) -> str | None:
    """Why ``body`` is not OpenAI's error envelope (or Ollama's, when allowed); None if it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(data, dict) or "error" not in data:
        return "no top-level 'error'"
    error = data["error"]
    if ollama_shape_ok and isinstance(error, str) and error:
        return None
    if not isinstance(error, dict):
        return "'error' is not an object"
    missing = [name for name in _ENVELOPE_FIELDS if name not in error]
    if missing:
        return f"'error' lacks {missing}"
    if not isinstance(error["message"], str) or not error["message"]:
        return "'error.message' is not a non-empty string"
    if not isinstance(error["type"], str):
        return "'error.type' is not a string"
    for name in ("param", "code"):
        if error[name] is not None and not isinstance(error[name], str):
            return f"'error.{name}' is neither a string nor null"
    return None


def judge(case: Case, outcome: Outcome, *, direct: bool) -> list[str]:
    """What is wrong with ``outcome`` for ``case`` (empty when it is acceptable).

    ``direct``: the gateway was called without nginx, so uvicorn's own plain-text 400 for bytes it
    cannot parse is acceptable where the case allows it.
    """
    rules = case.expect
    response = outcome.response
    if response is None:
        error = outcome.error or "no response"
        if rules.no_answer_ok and not error.startswith(("timeout", "malformed")):
            return []
        if rules.http09_ok and error.startswith("malformed response: truncated response head"):
            return []
        return [f"no answer: {error}"]
    problems: list[str] = []
    status = response.status
    parser_reject = (
        direct
        and rules.parser_may_reject
        and status == 400
        and response.content_type != "application/json"
    )
    if parser_reject:
        pass  # uvicorn's own answer to bytes it cannot parse: the app never saw the request
    elif status >= 500 and not rules.allows_status(status):
        problems.append(f"server error {status}")
    elif not rules.allows_status(status):
        problems.append(f"status {status} not acceptable")
    body_allowed = case.method != "HEAD" and status not in (204, 304)
    if status >= 400 and body_allowed and not parser_reject:
        if response.content_type != "application/json":
            problems.append(f"Content-Type {response.content_type or 'missing'!r}, not JSON")
        else:
            why = envelope_problem(response.body, ollama_shape_ok=rules.ollama_shape_ok)
            if why:
                problems.append(f"not the error envelope: {why}")
    closed = response.closes or outcome.server_closed
    # Through nginx, a close nginx announces (``Connection: close`` after its own refusal of bad
    # bytes) is plain HTTP; only a silent close, or any close by the gateway itself, is a fault.
    announced = response.closes and not direct
    if closed and not (rules.may_close or parser_reject or announced):
        problems.append("the server closed the keep-alive connection")
    if problems:
        problems.append(f"got {response.summary()}")
    return problems


# ---- building bodies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text (or bytes) inserted verbatim where a value goes: ``Raw("NaN")``."""

    text: str | bytes


class _Drop:
    """Marks a field to remove from a base body."""


DROP = _Drop()


def encode(value: Any) -> bytes:
    """``value`` as JSON bytes, with every :class:`Raw` inserted verbatim."""
    raws: list[bytes] = []

    def placeholder(obj: object) -> str:
        if isinstance(obj, Raw):
            raws.append(obj.text.encode() if isinstance(obj.text, str) else obj.text)
            return f"@@RAW{len(raws) - 1}@@"
        raise TypeError(f"cannot encode {obj!r}")

    text = json.dumps(value, ensure_ascii=False, default=placeholder).encode()
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{index}@@"'.encode(), raw)
    return text


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied (a :data:`DROP` value removes the key)."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, _Drop):
            result.pop(key, None)
        else:
            result[key] = value
    return result


def user(content: Any) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": content}


BASES: dict[str, dict[str, Any]] = {
    CHAT: {"model": MODEL, "messages": [user("hi")]},
    COMPLETIONS: {"model": MODEL, "prompt": "hi"},
    RESPONSES: {"model": MODEL, "input": "hi"},
    EMBEDDINGS: {"model": EMBEDDING_MODEL, "input": "hi"},
    API_CHAT: {"model": NATIVE_MODEL, "messages": [user("hi")], "stream": False},
    API_GENERATE: {"model": NATIVE_MODEL, "prompt": "hi", "stream": False},
    API_EMBED: {"model": EMBEDDING_MODEL, "input": "hi"},
    API_SHOW: {"model": NATIVE_MODEL},
    API_PULL: {"model": NATIVE_MODEL, "stream": False},
}
SHORT = {
    CHAT: "chat",
    COMPLETIONS: "completions",
    RESPONSES: "responses",
    EMBEDDINGS: "embeddings",
    MODELS: "models",
    API_CHAT: "api-chat",
    API_GENERATE: "api-generate",
    API_EMBED: "api-embed",
    API_SHOW: "api-show",
    API_TAGS: "api-tags",
    API_PULL: "api-pull",
    HEALTH_LIVE: "health-live",
    HEALTH_READY: "health-ready",
    METRICS: "metrics",
}
OPENAI_POSTS = (CHAT, COMPLETIONS, RESPONSES, EMBEDDINGS)
NATIVE_POSTS = (API_CHAT, API_GENERATE, API_EMBED, API_SHOW, API_PULL)
POSTS = OPENAI_POSTS + NATIVE_POSTS
GETS = (MODELS, API_TAGS, HEALTH_LIVE, HEALTH_READY, METRICS)
PROTECTED_GETS = (MODELS, f"{MODELS}/{MODEL}", API_TAGS)


def native(path: str) -> bool:
    """True for the relayed Ollama-native routes."""
    return path.startswith("/api/")


def rejected(path: str) -> Expect:
    """A refusal on ``path``: 400 on the OpenAI routes.

    On the relayed ``/api/*`` routes the gateway passes the body on unchanged and Ollama judges
    it: whatever it answers is fine as long as it is no 5xx (pull needs an admin key: 4xx).
    """
    if path == API_PULL:
        return NATIVE_BAD
    return NATIVE_LENIENT if native(path) else BAD


def _refused(path: str) -> Expect:
    """A refusal on any route: 400, Ollama-shaped on ``/api/*`` (pull: any 4xx)."""
    return NATIVE_BAD if native(path) else BAD


def lenient(path: str) -> Expect:
    """Success or a refusal on ``path``."""
    return NATIVE_LENIENT if native(path) else LENIENT


def field_case(
    path: str, name: str, klass: str, rules: Expect | None = None, **changes: Any
) -> Case:
    """A POST to ``path`` whose base body gets ``changes`` (refused as 400 unless said)."""
    body = encode(merged(BASES[path], changes))
    return Case(
        f"{SHORT[path]}.{name}", klass, rules or rejected(path), target=path.encode(), body=body
    )


def body_case(path: str, name: str, klass: str, body: bytes, rules: Expect | None = None) -> Case:
    """A POST to ``path`` with exactly ``body``."""
    return Case(
        f"{SHORT[path]}.{name}", klass, rules or rejected(path), target=path.encode(), body=body
    )


# ---- the classes --------------------------------------------------------------------------------


def json_cases() -> Iterator[Case]:
    """Bodies that are not (acceptable) JSON, on every POST route."""
    broken: dict[str, bytes] = {
        "empty-body": b"",
        "truncated": b'{"model": "gpt-oss-20b", "messages": [',
        "garbage-after": b'{"model": "gpt-oss-20b"} trailing',
        "single-quotes": b"{'model': 'gpt-oss-20b'}",
        "top-level-array": b"[]",
        "top-level-string": b'"hello"',
        "top-level-null": b"null",
        "trailing-comma": b'{"model": "gpt-oss-20b",}',
    }
    for path in POSTS:
        for name, body in broken.items():
            yield body_case(path, name, "json", body, NATIVE_BAD if native(path) else BAD)
    chat = json.dumps(BASES[CHAT])
    yield body_case(CHAT, "top-level-number", "json", b"42")
    yield body_case(CHAT, "top-level-true", "json", b"true")
    yield body_case(CHAT, "comment", "json", b"// note\n" + chat.encode())
    yield body_case(CHAT, "bom-prefix", "json", b"\xef\xbb\xbf" + chat.encode(), ANY_4XX)
    yield body_case(CHAT, "duplicate-keys", "json", b'{"model": 5, ' + chat[1:].encode(), LENIENT)
    yield body_case(CHAT, "unquoted-key", "json", b'{model: "gpt-oss-20b"}')
    yield body_case(CHAT, "raw-newline-in-string", "json", chat.replace("hi", "h\ni").encode())
    yield body_case(CHAT, "raw-nul-in-string", "json", chat.replace("hi", "h\x00i").encode())
    yield body_case(CHAT, "bad-escape", "json", chat.replace("hi", "h\\qi").encode())
    yield body_case(CHAT, "short-unicode-escape", "json", chat.replace("hi", "\\u12").encode())
    yield body_case(CHAT, "only-whitespace", "json", b" \r\n\t ")
    yield body_case(CHAT, "two-objects", "json", chat.encode() + chat.encode())
    yield body_case(CHAT, "utf16-body", "json", chat.encode("utf-16"), ANY_4XX)
    yield body_case(COMPLETIONS, "nul-bytes-only", "json", b"\x00" * 64)
    yield body_case(RESPONSES, "binary-garbage", "json", bytes(range(256)))


def _chat_type_cases() -> Iterator[Case]:
    yield from (
        field_case(CHAT, f"{name}", "types", rules, **changes)
        for name, rules, changes in (
            ("stream=yes", None, {"stream": "yes"}),
            ("stream=1", None, {"stream": 1}),
            ("stream=object", None, {"stream": {}}),
            ("stream=null", LENIENT, {"stream": None}),
            ("max_tokens=string", None, {"max_tokens": "100"}),
            ("max_tokens=true", None, {"max_tokens": True}),
            ("max_tokens=1.5", None, {"max_tokens": 1.5}),
            ("max_tokens=-1", None, {"max_tokens": -1}),
            ("max_tokens=100.0", LENIENT, {"max_tokens": Raw("100.0")}),
            ("max_completion_tokens=string", None, {"max_completion_tokens": "5"}),
            ("max_completion_tokens=list", None, {"max_completion_tokens": [5]}),
            ("temperature=string", None, {"temperature": "0.5"}),
            ("temperature=true", None, {"temperature": True}),
            ("temperature=5", None, {"temperature": 5}),
            ("temperature=-1", None, {"temperature": -1}),
            ("top_p=2", None, {"top_p": 2}),
            ("top_p=string", None, {"top_p": "x"}),
            ("n=string", None, {"n": "1"}),
            ("n=true", None, {"n": True}),
            ("n=0", None, {"n": 0}),
            ("n=2", None, {"n": 2}),
            ("seed=string", None, {"seed": "1"}),
            ("seed=true", None, {"seed": True}),
            ("seed=1.5", None, {"seed": 1.5}),
            ("stop=5", None, {"stop": 5}),
            ("stop=int-list", None, {"stop": [1, 2]}),
            ("stop=object", None, {"stop": {"a": 1}}),
            ("presence_penalty=string", None, {"presence_penalty": "x"}),
            ("presence_penalty=3", None, {"presence_penalty": 3}),
            ("frequency_penalty=-3", None, {"frequency_penalty": -3}),
            ("top_logprobs=-1", None, {"top_logprobs": -1}),
            ("top_logprobs=100", None, {"top_logprobs": 100}),
            ("top_logprobs=string", None, {"top_logprobs": "3"}),
            ("logprobs=string", None, {"logprobs": "yes"}),
            ("logit_bias=string", None, {"logit_bias": "x"}),
            ("logit_bias=string-values", None, {"logit_bias": {"50256": "b"}}),
            ("logit_bias=list", None, {"logit_bias": [1]}),
            ("metadata=string", None, {"metadata": "x"}),
            ("metadata=int-values", None, {"metadata": {"k": 5}}),
            ("metadata=list", None, {"metadata": ["x"]}),
            ("modalities=smell", None, {"modalities": ["smell"]}),
            ("modalities=string", None, {"modalities": "text"}),
            ("user=5", None, {"user": 5}),
            ("store=yes", None, {"store": "yes"}),
            ("service_tier=5", None, {"service_tier": 5}),
            ("parallel_tool_calls=yes", None, {"parallel_tool_calls": "yes"}),
            ("model=5", None, {"model": 5}),
            ("model=list", None, {"model": ["gpt-oss-20b"]}),
            ("model=empty", LENIENT, {"model": ""}),
            ("model=null", LENIENT, {"model": None}),
            ("messages=string", None, {"messages": "hi"}),
            ("messages=object", None, {"messages": {"role": "user", "content": "hi"}}),
            ("messages=empty", None, {"messages": []}),
            ("messages=int-item", None, {"messages": [1]}),
            ("messages=null-item", None, {"messages": [None]}),
            ("messages=missing", None, {"messages": DROP}),
            ("reasoning_effort=extreme", None, {"reasoning_effort": "extreme"}),
            ("reasoning_effort=1", None, {"reasoning_effort": 1}),
            ("reasoning=string", None, {"reasoning": "high"}),
            ("stream_options=string", None, {"stream_options": "x"}),
            ("include_usage=yes", None, {"stream_options": {"include_usage": "yes"}}),
            ("response_format=string", None, {"response_format": "json"}),
            ("response_format=xml", None, {"response_format": {"type": "xml"}}),
            ("json_schema=missing", None, {"response_format": {"type": "json_schema"}}),
            (
                "json_schema=string",
                None,
                {"response_format": {"type": "json_schema", "json_schema": {"schema": "x"}}},
            ),
            ("tools=string", None, {"tools": "x"}),
            ("tools=no-function", None, {"tools": [{"type": "function"}]}),
            ("tools=empty-name", None, {"tools": [{"type": "function", "function": {"name": ""}}]}),
            (
                "tools=retrieval",
                None,
                {"tools": [{"type": "retrieval", "function": {"name": "f"}}]},
            ),
            (
                "tools=parameters-string",
                None,
                {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            ),
            ("tool_choice=5", None, {"tool_choice": 5}),
            ("tool_choice=sometimes", None, {"tool_choice": "sometimes"}),
            ("tool_choice=bad-object", None, {"tool_choice": {"type": "x"}}),
        )
    )


def _message_cases() -> Iterator[Case]:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages: dict[str, tuple[Expect | None, list[Any]]] = {
        "user-without-content": (None, [{"role": "user"}]),
        "tool-without-tool_call_id": (
            None,
            [
                user("hi"),
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "content": "1"},
            ],
        ),
        "tool_call_id=5": (None, [user("hi"), {"role": "tool", "tool_call_id": 5, "content": "1"}]),
        "role=wizard": (None, [{"role": "wizard", "content": "hi"}]),
        "role=5": (None, [{"role": 5, "content": "hi"}]),
        "role=missing": (None, [{"content": "hi"}]),
        "content=5": (None, [user(5)]),
        "content=object": (None, [user({"a": 1})]),
        "content=int-part": (None, [user([5])]),
        "content=part-smell": (None, [user([{"type": "smell"}])]),
        "content=text-part-no-text": (None, [user([{"type": "text"}])]),
        "content=text-part-int": (None, [user([{"type": "text", "text": 5}])]),
        "content=image-url-string": (None, [user([{"type": "image_url", "image_url": "x"}])]),
        "content=remote-image": (
            None,
            [user([{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}])],
        ),
        "name=5": (None, [{"role": "user", "content": "hi", "name": 5}]),
        "tool_calls=string": (None, [user("hi"), {"role": "assistant", "tool_calls": "x"}]),
        "tool_calls=function-int": (
            None,
            [user("hi"), {"role": "assistant", "tool_calls": [{"id": "c", "function": 5}]}],
        ),
        "tool_call-arguments-not-json": (
            None,
            [
                user("hi"),
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{no"}}],
                },
            ],
        ),
        "tool_call-arguments=5": (
            None,
            [
                user("hi"),
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 5}}],
                },
            ],
        ),
        "tool_call-no-name": (
            None,
            [user("hi"), {"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}],
        ),
        "assistant-empty": (LENIENT, [user("hi"), {"role": "assistant"}, user("again")]),
    }
    for name, (rules, value) in messages.items():
        yield field_case(CHAT, name, "types", rules, messages=value)


def _other_type_cases() -> Iterator[Case]:
    specs: tuple[tuple[str, str, Expect | None, dict[str, Any]], ...] = (
        (COMPLETIONS, "prompt=5", None, {"prompt": 5}),
        (COMPLETIONS, "prompt=tokens", None, {"prompt": [1, 2, 3]}),
        (COMPLETIONS, "prompt=token-lists", None, {"prompt": [[1]]}),
        (COMPLETIONS, "prompt=object", None, {"prompt": {}}),
        (COMPLETIONS, "prompt=two-strings", ANY_4XX, {"prompt": ["a", "b"]}),
        (COMPLETIONS, "best_of=-1", None, {"best_of": -1}),
        (COMPLETIONS, "best_of=string", None, {"best_of": "2"}),
        (COMPLETIONS, "echo=string", None, {"echo": "string"}),
        (COMPLETIONS, "echo=1", None, {"echo": 1}),
        (COMPLETIONS, "logprobs=string", None, {"logprobs": "x"}),
        (COMPLETIONS, "logprobs=-1", None, {"logprobs": -1}),
        (COMPLETIONS, "suffix=5", None, {"suffix": 5}),
        (COMPLETIONS, "max_tokens=string", None, {"max_tokens": "100"}),
        (COMPLETIONS, "max_tokens=true", None, {"max_tokens": True}),
        (COMPLETIONS, "stream=yes", None, {"stream": "yes"}),
        (COMPLETIONS, "temperature=string", None, {"temperature": "x"}),
        (COMPLETIONS, "n=2", None, {"n": 2}),
        (RESPONSES, "input=5", None, {"input": 5}),
        (RESPONSES, "input=object", None, {"input": {}}),
        (RESPONSES, "input=int-item", None, {"input": [5]}),
        (RESPONSES, "input=message-without-content", None, {"input": [{"role": "user"}]}),
        (RESPONSES, "input=content-5", None, {"input": [{"role": "user", "content": 5}]}),
        (RESPONSES, "input=role-wizard", None, {"input": [{"role": "wizard", "content": "x"}]}),
        (
            RESPONSES,
            "input=output-without-call_id",
            None,
            {"input": [{"type": "function_call_output", "output": "1"}]},
        ),
        (RESPONSES, "input=item-type-smell", None, {"input": [{"type": "smell"}]}),
        (RESPONSES, "input=missing", None, {"input": DROP}),
        (RESPONSES, "instructions=5", None, {"instructions": 5}),
        (RESPONSES, "max_output_tokens=string", None, {"max_output_tokens": "10"}),
        (RESPONSES, "max_output_tokens=-1", None, {"max_output_tokens": -1}),
        (RESPONSES, "max_output_tokens=true", None, {"max_output_tokens": True}),
        (RESPONSES, "reasoning=string", None, {"reasoning": "high"}),
        (RESPONSES, "reasoning=extreme", None, {"reasoning": {"effort": "extreme"}}),
        (RESPONSES, "tools=web_search", LENIENT, {"tools": [{"type": "web_search"}]}),  # left out
        (RESPONSES, "tools=function-no-name", None, {"tools": [{"type": "function"}]}),
        (RESPONSES, "tools=type-5", None, {"tools": [{"type": 5}]}),
        (
            RESPONSES,
            "tools=namespace-no-tools",
            None,
            {"tools": [{"type": "namespace", "name": "n"}]},
        ),
        (
            RESPONSES,
            "tools=namespace-of-strings",
            None,
            {"tools": [{"type": "namespace", "name": "n", "tools": ["x"]}]},
        ),
        (RESPONSES, "tools=string", None, {"tools": "x"}),
        (RESPONSES, "text=string", None, {"text": "x"}),
        (RESPONSES, "text-format=string", None, {"text": {"format": "x"}}),
        (RESPONSES, "store=yes", None, {"store": "yes"}),
        (RESPONSES, "stream=yes", None, {"stream": "yes"}),
        (RESPONSES, "previous_response_id=5", None, {"previous_response_id": 5}),
        (RESPONSES, "temperature=string", None, {"temperature": "x"}),
        (RESPONSES, "top_p=5", None, {"top_p": 5}),
        (RESPONSES, "metadata=string", None, {"metadata": "x"}),
        (RESPONSES, "parallel_tool_calls=string", None, {"parallel_tool_calls": "x"}),
        (RESPONSES, "background=yes", None, {"background": "yes"}),
        (RESPONSES, "tool_choice=5", None, {"tool_choice": 5}),
        (RESPONSES, "user=5", None, {"user": 5}),
        (EMBEDDINGS, "input=5", None, {"input": 5}),
        (EMBEDDINGS, "input=tokens", None, {"input": [1, 2]}),
        (EMBEDDINGS, "input=empty", None, {"input": []}),
        (EMBEDDINGS, "input=nested-empty", None, {"input": [[]]}),
        (EMBEDDINGS, "input=null", None, {"input": None}),
        (EMBEDDINGS, "input=object-item", None, {"input": [{"a": 1}]}),
        (EMBEDDINGS, "encoding_format=hex", None, {"encoding_format": "hex"}),
        (EMBEDDINGS, "encoding_format=5", None, {"encoding_format": 5}),
        (EMBEDDINGS, "dimensions=string", None, {"dimensions": "x"}),
        (EMBEDDINGS, "dimensions=-1", None, {"dimensions": -1}),
        (EMBEDDINGS, "dimensions=1.5", None, {"dimensions": 1.5}),
        (EMBEDDINGS, "user=5", None, {"user": 5}),
        (EMBEDDINGS, "model=5", None, {"model": 5}),
        (API_CHAT, "messages=string", None, {"messages": "x"}),
        (API_CHAT, "stream=yes", None, {"stream": "yes"}),
        (API_CHAT, "options=string", None, {"options": "x"}),
        (API_CHAT, "options-temperature=string", None, {"options": {"temperature": "hot"}}),
        (API_CHAT, "think=extreme", None, {"think": "extreme"}),
        (API_CHAT, "keep_alive=object", None, {"keep_alive": {}}),
        (API_CHAT, "format=5", None, {"format": 5}),
        (API_CHAT, "model=5", None, {"model": 5}),
        (API_GENERATE, "prompt=5", None, {"prompt": 5}),
        (API_GENERATE, "stream=yes", None, {"stream": "yes"}),
        (API_GENERATE, "options=list", None, {"options": []}),
        (API_GENERATE, "raw=string", None, {"raw": "x"}),
        (API_GENERATE, "images=string", None, {"images": "x"}),
        (API_GENERATE, "context=string", None, {"context": "x"}),
        (API_EMBED, "input=5", None, {"input": 5}),
        (API_EMBED, "truncate=string", None, {"truncate": "x"}),
        (API_EMBED, "dimensions=string", None, {"dimensions": "x"}),
        (API_SHOW, "model=5", None, {"model": 5}),
        (API_SHOW, "verbose=string", None, {"verbose": "x"}),
        (API_PULL, "model=5", None, {"model": 5}),
        (API_PULL, "stream=yes", None, {"stream": "yes"}),
        (API_PULL, "insecure=string", None, {"insecure": "x"}),
    )
    for path, name, rules, changes in specs:
        yield field_case(path, name, "types", rules, **changes)


def type_cases() -> Iterator[Case]:
    """Wrong JSON types, out-of-range and unknown values for the important fields."""
    yield from _chat_type_cases()
    yield from _message_cases()
    yield from _other_type_cases()


def number_cases() -> Iterator[Case]:
    """Numbers beyond 64 bits or a double, and the non-JSON NaN/Infinity literals."""
    specs: tuple[tuple[str, str, dict[str, Any]], ...] = (
        (CHAT, "seed=2^70", {"seed": BIG}),
        (CHAT, "seed=-2^70", {"seed": -BIG}),
        (CHAT, "seed=2^64", {"seed": 2**64}),
        (CHAT, "seed=-2^63-1", {"seed": -(2**63) - 1}),
        (CHAT, "seed=400-digits", {"seed": Raw(DIGITS_400)}),
        (CHAT, "max_tokens=2^70", {"max_tokens": BIG}),
        (CHAT, "max_tokens=400-digits", {"max_tokens": Raw(DIGITS_400)}),
        (CHAT, "max_completion_tokens=2^70", {"max_completion_tokens": BIG}),
        (CHAT, "n=2^70", {"n": BIG}),
        (CHAT, "top_logprobs=2^70", {"top_logprobs": BIG}),
        (CHAT, "temperature=1e400", {"temperature": Raw("1e400")}),
        (CHAT, "temperature=-1e400", {"temperature": Raw("-1e400")}),
        (CHAT, "temperature=NaN", {"temperature": Raw("NaN")}),
        (CHAT, "temperature=Infinity", {"temperature": Raw("Infinity")}),
        (CHAT, "top_p=-Infinity", {"top_p": Raw("-Infinity")}),
        (CHAT, "seed=NaN", {"seed": Raw("NaN")}),
        (CHAT, "presence_penalty=400-digit-float", {"presence_penalty": Raw(DIGITS_400 + ".5")}),
        (CHAT, "logit_bias=1e400", {"logit_bias": {"50256": Raw("1e400")}}),
        (CHAT, "logit_bias=2^70", {"logit_bias": {"1": BIG}}),
        (CHAT, "metadata-value=2^70", {"metadata": {"k": BIG}}),
        (CHAT, "unknown-field=2^70", {"x_unknown": BIG}),
        (CHAT, "tool-parameters=2^70", {"tools": [_tool({"type": "integer", "maximum": BIG})]}),
        (COMPLETIONS, "max_tokens=2^70", {"max_tokens": BIG}),
        (COMPLETIONS, "best_of=2^70", {"best_of": BIG}),
        (COMPLETIONS, "seed=400-digits", {"seed": Raw(DIGITS_400)}),
        (COMPLETIONS, "logprobs=2^70", {"logprobs": BIG}),
        (COMPLETIONS, "temperature=NaN", {"temperature": Raw("NaN")}),
        (RESPONSES, "max_output_tokens=2^70", {"max_output_tokens": BIG}),
        (RESPONSES, "temperature=NaN", {"temperature": Raw("NaN")}),
        (RESPONSES, "top_p=1e400", {"top_p": Raw("1e400")}),
        (RESPONSES, "metadata=2^70", {"metadata": {"k": BIG}}),
        (EMBEDDINGS, "dimensions=2^70", {"dimensions": BIG}),
        (EMBEDDINGS, "dimensions=Infinity", {"dimensions": Raw("Infinity")}),
        (API_CHAT, "options-seed=2^70", {"options": {"seed": BIG}}),
        (API_CHAT, "options-num_predict=1e400", {"options": {"num_predict": Raw("1e400")}}),
        (API_GENERATE, "options-temperature=NaN", {"options": {"temperature": Raw("NaN")}}),
        (API_GENERATE, "keep_alive=2^70", {"keep_alive": BIG}),
        (API_EMBED, "dimensions=2^70", {"dimensions": BIG}),
    )
    for path, name, changes in specs:
        rules = None
        if name in ("unknown-field=2^70", "tool-parameters=2^70"):
            rules = LENIENT  # ignored or passed on; must still never be a 5xx
        yield field_case(path, name, "numbers", rules, **changes)


def _tool(parameter: Any, name: str = "f") -> dict[str, Any]:
    schema = {"type": "object", "properties": {"x": parameter}}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


LONE = Raw('"\\ud800"')
LONE_LOW = Raw('"a\\udfffb"')
REVERSED_PAIR = Raw('"\\udc00\\ud800"')


def unicode_cases() -> Iterator[Case]:
    """Lone surrogates, NUL, invalid and overlong UTF-8, bidi and zero-width characters."""
    surrogate_specs: tuple[tuple[str, str, dict[str, Any]], ...] = (
        (CHAT, "content", {"messages": [user(LONE)]}),
        (CHAT, "content-low", {"messages": [user(LONE_LOW)]}),
        (CHAT, "content-reversed-pair", {"messages": [user(REVERSED_PAIR)]}),
        (CHAT, "content-part-text", {"messages": [user([{"type": "text", "text": LONE}])]}),
        (CHAT, "model", {"model": LONE}),
        (CHAT, "message-name", {"messages": [{"role": "user", "content": "hi", "name": LONE}]}),
        (CHAT, "tool-name", {"tools": [_tool({"type": "string"}, name="@@K@@")]}),
        (CHAT, "stop", {"stop": LONE}),
        (CHAT, "user", {"user": LONE}),
        (CHAT, "metadata-key", {"metadata": {"@@K@@": "v"}}),
        (CHAT, "unknown-field-key", {"@@K@@": 1}),
        (CHAT, "reasoning_effort", {"reasoning_effort": LONE}),
        (COMPLETIONS, "prompt", {"prompt": LONE}),
        (COMPLETIONS, "suffix", {"suffix": LONE_LOW}),
        (RESPONSES, "input", {"input": LONE}),
        (RESPONSES, "instructions", {"instructions": LONE}),
        (RESPONSES, "input-item-content", {"input": [{"role": "user", "content": LONE}]}),
        (EMBEDDINGS, "input", {"input": [LONE]}),
        (EMBEDDINGS, "model", {"model": LONE}),
    )
    for path, name, changes in surrogate_specs:
        text = encode(merged(BASES[path], changes)).replace(b"@@K@@", b"\\ud800")
        yield body_case(path, f"lone-surrogate-{name}", "unicode", text, ANY_4XX)
    for path, field_name in ((API_CHAT, "model"), (API_GENERATE, "prompt"), (API_SHOW, "model")):
        yield field_case(
            path, f"lone-surrogate-{field_name}", "unicode", NATIVE_LENIENT, **{field_name: LONE}
        )
    chat = BASES[CHAT]
    yield field_case(
        CHAT, "nul-escaped-in-content", "unicode", LENIENT, messages=[user("a\u0000b")]
    )
    yield field_case(CHAT, "nul-escaped-in-model", "unicode", ANY_4XX, model="gpt-oss\u0000-20b")
    yield field_case(CHAT, "rtl-override-content", "unicode", LENIENT, messages=[user("\u202eabc")])
    yield field_case(
        CHAT, "zero-width-in-model", "unicode", expect(400, 404), model="gpt\u200b-oss-20b"
    )
    yield field_case(CHAT, "rtl-in-model", "unicode", expect(400, 404), model="\u202egpt-oss-20b")
    yield field_case(CHAT, "bom-in-model", "unicode", expect(400, 404), model="\ufeffgpt-oss-20b")
    yield field_case(
        CHAT, "noncharacter-content", "unicode", LENIENT, messages=[user("\uffff\ufffe")]
    )
    yield field_case(
        CHAT, "combining-marks", "unicode", LENIENT, messages=[user("e" + "\u0301" * 5000)]
    )
    yield field_case(CHAT, "emoji-model", "unicode", expect(400, 404), model="\U0001f600")
    yield field_case(
        CHAT, "zero-width-tool-name", "unicode", LENIENT, tools=[_tool({}, name="f\u200b")]
    )
    invalid_bytes = {
        "invalid-utf8-ff": b"\xff\xfe",
        "overlong-slash": b"\xc0\xaf",
        "overlong-nul": b"\xc0\x80",
        "cesu-surrogate": b"\xed\xa0\x80",
        "truncated-multibyte": b"\xe2\x82",
        "latin1-e-acute": b"caf\xe9",
        "five-byte-sequence": b"\xf8\x88\x80\x80\x80",
    }
    template = encode(chat).replace(b'"hi"', b'"@@BYTES@@"')
    for name, raw in invalid_bytes.items():
        yield body_case(CHAT, name, "unicode", template.replace(b"@@BYTES@@", raw))
    for path in (COMPLETIONS, RESPONSES, EMBEDDINGS):
        text = encode(BASES[path]).replace(b'"hi"', b'"\xff\xc0\xaf"')
        yield body_case(path, "invalid-utf8", "unicode", text)
    native_text = encode(BASES[API_CHAT]).replace(b'"hi"', b'"\xff\xc0\xaf"')
    yield body_case(API_CHAT, "invalid-utf8", "unicode", native_text, NATIVE_LENIENT)


def nesting_cases() -> Iterator[Case]:
    """Deeply nested arrays and objects: as the whole body and inside free-form fields."""
    deep_array = b"[" * 5000 + b"]" * 5000
    deep_object = b'{"a":' * 5000 + b"1" + b"}" * 5000
    for path in POSTS:
        yield body_case(path, "array-5000-deep", "nesting", deep_array, _refused(path))
    for path in (CHAT, RESPONSES, API_CHAT):
        yield body_case(path, "object-5000-deep", "nesting", deep_object, _refused(path))
    nest = {
        "deep": lambda depth: Raw("[" * depth + "]" * depth),
        "deep-object": lambda depth: Raw('{"a":' * depth + "1" + "}" * depth),
    }
    specs: tuple[tuple[str, str, int, Callable[[Any], dict[str, Any]]], ...] = (
        (CHAT, "content-array", 5000, lambda v: {"messages": [user(v)]}),
        (CHAT, "unknown-field", 300, lambda v: {"x_unknown": v}),
        (CHAT, "unknown-field", 5000, lambda v: {"x_unknown": v}),
        (CHAT, "metadata", 300, lambda v: {"metadata": {"k": v}}),
        (CHAT, "tool-parameters", 300, lambda v: {"tools": [_tool(v)]}),
        (CHAT, "tool-parameters", 5000, lambda v: {"tools": [_tool(v)]}),
        (
            CHAT,
            "json-schema",
            300,
            lambda v: {
                "response_format": {"type": "json_schema", "json_schema": {"schema": {"x": v}}}
            },
        ),
        (
            CHAT,
            "tool-call-arguments",
            300,
            lambda v: {
                "messages": [
                    user("hi"),
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "function": {"name": "f", "arguments": {"x": v}}}
                        ],
                    },
                ]
            },
        ),
        (
            RESPONSES,
            "tools-parameters",
            300,
            lambda v: {"tools": [{"type": "function", "name": "f", "parameters": {"x": v}}]},
        ),
        (
            RESPONSES,
            "text-format-schema",
            300,
            lambda v: {
                "text": {"format": {"type": "json_schema", "name": "s", "schema": {"x": v}}}
            },
        ),
        (EMBEDDINGS, "input", 300, lambda v: {"input": [v]}),
        (API_CHAT, "format", 300, lambda v: {"format": {"x": v}}),
        (API_GENERATE, "options", 300, lambda v: {"options": {"x": v}}),
    )
    for path, name, depth, build in specs:
        kind = (
            "deep-object"
            if "schema" in name or "parameters" in name or "format" in name
            else "deep"
        )
        yield field_case(
            path, f"{name}-{depth}-deep", "nesting", lenient(path), **build(nest[kind](depth))
        )


def size_cases(max_body_bytes: int) -> Iterator[Case]:
    """Huge strings, many messages or keys, and bodies over the limit (by length and chunked)."""
    # Big, yet cheap enough for the fake Ollama on a busy machine (it answers within seconds).
    half = max_body_bytes // 4
    yield field_case(CHAT, "huge-content", "size", LENIENT, messages=[user("a" * half)])
    yield field_case(CHAT, "huge-model-name", "size", ANY_4XX, model="m" * half)
    yield field_case(CHAT, "10000-messages", "size", LENIENT, messages=[user("hi")] * 10000)
    yield field_case(
        CHAT, "100000-unknown-keys", "size", LENIENT, **{f"k{i}": i for i in range(100000)}
    )
    yield field_case(CHAT, "10000-stop-strings", "size", LENIENT, stop=["x"] * 10000)
    yield field_case(
        CHAT, "10000-tools", "size", LENIENT, tools=[_tool({}, name=f"f{i}") for i in range(10000)]
    )
    yield field_case(
        CHAT, "huge-metadata", "size", ANY_4XX, metadata={f"k{i}": "v" * 600 for i in range(100)}
    )
    yield field_case(COMPLETIONS, "huge-prompt", "size", LENIENT, prompt="a" * half)
    yield field_case(
        RESPONSES,
        "10000-input-items",
        "size",
        LENIENT,
        input=[{"role": "user", "content": "x"}] * 10000,
    )
    yield field_case(EMBEDDINGS, "1000-inputs", "size", LENIENT, input=["x"] * 1000, dimensions=2)
    yield field_case(API_GENERATE, "huge-prompt", "size", NATIVE_LENIENT, prompt="a" * half)
    over = b'{"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "'
    over += b"a" * (max_body_bytes + 1024) + b'"}]}'
    for path in (CHAT, API_CHAT):
        yield body_case(path, "body-over-limit", "size", over, TOO_LARGE)
    yield Case(
        "chat.body-over-limit-chunked",
        "size",
        TOO_LARGE,
        body=_chunked(over, 65536),
        content_length=False,
        headers=((b"Transfer-Encoding", b"chunked"),),
    )
    yield Case(
        "chat.content-length-over-limit-no-body",
        "size",
        replace(TOO_LARGE, no_answer_ok=True, fresh_connection=True),
        body=b"",
        content_length=False,
        headers=((b"Content-Length", str(max_body_bytes * 4).encode()),),
        half_close=True,
    )


def _chunked(data: bytes, size: int) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


SMALL_CHAT = encode(BASES[CHAT])


def _post(
    extra_headers: bytes, body: bytes = SMALL_CHAT, target: bytes = b"/v1/chat/completions"
) -> bytes:
    """A raw POST with Host and key; ``extra_headers`` are CRLF-terminated header lines."""
    return (
        b"POST " + target + b" HTTP/1.1\r\nHost: @@HOST@@\r\nAuthorization: Bearer @@KEY@@\r\n"
        b"Content-Type: application/json\r\n" + extra_headers + b"\r\n" + body
    )


def _get(target: bytes, extra_headers: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return (
        b"GET "
        + target
        + b" "
        + version
        + b"\r\nHost: @@HOST@@\r\nAuthorization: Bearer @@KEY@@\r\n"
        + extra_headers
        + b"\r\n"
    )


def framing_cases() -> Iterator[Case]:
    """Broken message framing: Content-Length, chunked encoding, request lines, line endings."""
    n = str(len(SMALL_CHAT)).encode()
    chunked = _chunked(SMALL_CHAT, 16)
    specs: tuple[tuple[str, Expect, bytes, bool], ...] = (
        ("content-length-abc", FRAMING, _post(b"Content-Length: abc\r\n"), False),
        ("content-length-negative", FRAMING, _post(b"Content-Length: -5\r\n"), False),
        ("content-length-plus", FRAMING, _post(b"Content-Length: +" + n + b"\r\n"), False),
        ("content-length-hex", FRAMING, _post(b"Content-Length: 0x10\r\n"), False),
        ("content-length-2^70", FRAMING, _post(f"Content-Length: {BIG}\r\n".encode()), False),
        ("content-length-empty", FRAMING, _post(b"Content-Length: \r\n"), False),
        (
            "content-length-duplicate-different",
            FRAMING,
            _post(b"Content-Length: " + n + b"\r\nContent-Length: 3\r\n"),
            False,
        ),
        (
            "content-length-duplicate-same",
            replace(FRAMING, success_ok=True),
            _post(b"Content-Length: " + n + b"\r\nContent-Length: " + n + b"\r\n"),
            False,
        ),
        (
            "content-length-list",
            replace(FRAMING, success_ok=True),
            _post(b"Content-Length: " + n + b", " + n + b"\r\n"),
            False,
        ),
        ("content-length-shorter-than-body", DESYNC, _post(b"Content-Length: 5\r\n"), False),
        ("content-length-longer-than-body", INCOMPLETE, _post(b"Content-Length: 9999\r\n"), True),
        (
            "chunked-size-garbage",
            FRAMING,
            _post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
            False,
        ),
        (
            "chunked-size-overflow",
            FRAMING,
            _post(b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
            False,
        ),
        (
            "chunked-negative-size",
            FRAMING,
            _post(b"Transfer-Encoding: chunked\r\n", b"-5\r\nabc\r\n0\r\n\r\n"),
            False,
        ),
        (
            "chunked-missing-crlf",
            FRAMING,
            _post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcXX0\r\n\r\n"),
            False,
        ),
        (
            "chunked-no-last-chunk",
            INCOMPLETE,
            _post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n"),
            True,
        ),
        (
            "chunked-extensions",
            replace(FRAMING, success_ok=True),
            _post(b"Transfer-Encoding: chunked\r\n", chunked.replace(b"\r\n", b";ext=1\r\n", 1)),
            False,
        ),
        (
            "chunked-trailers",
            replace(FRAMING, success_ok=True),
            _post(b"Transfer-Encoding: chunked\r\n", chunked[:-2] + b"X-Trailer: 1\r\n\r\n"),
            False,
        ),
        (
            "content-length-and-chunked",
            replace(FRAMING, success_ok=True),
            _post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", chunked),
            False,
        ),
        (
            "chunked-twice",
            replace(FRAMING, success_ok=True, statuses=frozenset({*range(400, 500), 501})),
            _post(b"Transfer-Encoding: chunked, chunked\r\n", chunked),
            False,
        ),
        (
            "transfer-encoding-gzip-chunked",
            expect(*range(400, 500), 501, success_ok=True, parser_may_reject=True, may_close=True),
            _post(b"Transfer-Encoding: gzip, chunked\r\n", chunked),
            False,
        ),
        (
            "transfer-encoding-unknown",
            expect(*range(400, 500), 501, parser_may_reject=True, may_close=True),
            _post(b"Transfer-Encoding: magic\r\n" + b"Content-Length: " + n + b"\r\n"),
            False,
        ),
        (
            "transfer-encoding-xchunked",
            expect(*range(400, 500), 501, parser_may_reject=True, may_close=True),
            _post(b"Transfer-Encoding: xchunked\r\n", chunked),
            False,
        ),
        (
            "bare-lf-line-endings",
            replace(FRAMING, success_ok=True),
            _get(b"/v1/models").replace(b"\r\n", b"\n"),
            False,
        ),
        (
            "request-line-extra-spaces",
            FRAMING,
            b"GET  /v1/models  HTTP/1.1\r\nHost: @@HOST@@\r\n\r\n",
            False,
        ),
        (
            "request-line-no-version",
            HTTP09,
            b"GET /v1/models\r\n\r\n",
            False,
        ),
        (
            "http-0.9",
            HTTP09,
            b"GET /\r\n",
            True,
        ),
        (
            "http-2.0-version",
            expect(*range(400, 500), 505, success_ok=True, parser_may_reject=True, may_close=True),
            _get(b"/v1/models", version=b"HTTP/2.0"),
            False,
        ),
        (
            "http-1.2-version",
            expect(*range(200, 300), *range(400, 500), 505, parser_may_reject=True, may_close=True),
            _get(b"/v1/models", version=b"HTTP/1.2"),
            False,
        ),
        ("http-version-lowercase", FRAMING, _get(b"/v1/models", version=b"http/1.1"), False),
        ("http-version-garbage", FRAMING, _get(b"/v1/models", version=b"HTTP/x.y"), False),
        (
            "request-line-nul",
            FRAMING,
            b"GET /v1/\x00models HTTP/1.1\r\nHost: @@HOST@@\r\n\r\n",
            False,
        ),
        (
            "binary-garbage",
            replace(FRAMING, no_answer_ok=True, fresh_connection=True),
            bytes(range(1, 256)) + b"\r\n\r\n",
            False,
        ),
        (
            "tls-client-hello",
            replace(FRAMING, no_answer_ok=True, fresh_connection=True),
            bytes.fromhex("16030100a5010000a10303") + b"\x00" * 64,
            True,
        ),
        (
            "leading-empty-lines",
            replace(FRAMING, success_ok=True),
            b"\r\n\r\n" + _get(b"/v1/models"),
            False,
        ),
        (
            "pipelined-two-requests",
            replace(DESYNC, success_ok=True),
            _get(b"/v1/models") + _get(b"/v1/models"),
            False,
        ),
        (
            "expect-100-continue",
            replace(FRAMING, success_ok=True),
            _post(b"Expect: 100-continue\r\nContent-Length: " + n + b"\r\n"),
            False,
        ),
        (
            "expect-unknown",
            expect(*range(200, 300), *range(400, 500), parser_may_reject=True, may_close=True),
            _post(b"Expect: teapot\r\nContent-Length: " + n + b"\r\n"),
            False,
        ),
        (
            "get-with-body",
            replace(FRAMING, success_ok=True),
            _get(b"/v1/models", b"Content-Length: 7\r\n") + b"garbage",
            False,
        ),
        (
            "obs-fold-header",
            FRAMING,
            _post(b"Content-Length: " + n + b"\r\nX-Folded: a\r\n b\r\n"),
            False,
        ),
        (
            "header-without-colon",
            replace(FRAMING, success_ok=True),  # nginx drops an invalid header line
            _post(b"Content-Length: " + n + b"\r\nNoColonHere\r\n"),
            False,
        ),
        (
            "header-name-space-before-colon",
            FRAMING,
            _post(b"Content-Length : " + n + b"\r\n"),
            False,
        ),
        (
            "header-name-with-space",
            FRAMING,
            _post(b"Content-Length: " + n + b"\r\nBad Header: x\r\n"),
            False,
        ),
        (
            "header-value-nul",
            FRAMING,
            _post(b"Content-Length: " + n + b"\r\nX-Nul: a\x00b\r\n"),
            False,
        ),
        (
            "header-value-bare-cr",
            FRAMING,
            _post(b"Content-Length: " + n + b"\r\nX-Cr: a\rb\r\n"),
            False,
        ),
    )
    for name, rules, raw, half_close in specs:
        yield Case(f"framing.{name}", "framing", rules, raw=raw, half_close=half_close)


METHOD_REFUSED = expect(400, 404, 405, 501, parser_may_reject=True)


def method_cases() -> Iterator[Case]:
    """Methods the routes do not serve, unknown and malformed methods."""
    specs: tuple[tuple[str, str, Expect], ...] = (
        ("TRACE", "/", METHOD_REFUSED),
        ("TRACE", MODELS, METHOD_REFUSED),
        ("TRACK", CHAT, METHOD_REFUSED),
        ("PROPFIND", MODELS, METHOD_REFUSED),
        ("MKCOL", "/v1/x", METHOD_REFUSED),
        ("FOO", CHAT, METHOD_REFUSED),
        ("BREW", HEALTH_LIVE, METHOD_REFUSED),
        ("get", MODELS, METHOD_REFUSED),
        ("G\x01T", MODELS, replace(METHOD_REFUSED, may_close=True)),
        ("X" * 2000, MODELS, replace(METHOD_REFUSED, may_close=True)),
        ("CONNECT", "example.com:443", replace(METHOD_REFUSED, may_close=True)),
        ("OPTIONS", CHAT, expect(200, 204, 400, 404, 405)),
        ("OPTIONS", "*", expect(200, 204, 400, 404, 405, parser_may_reject=True)),
        ("DELETE", CHAT, expect(404, 405)),
        ("PUT", COMPLETIONS, expect(404, 405)),
        ("PATCH", RESPONSES, expect(404, 405)),
        ("GET", CHAT, expect(404, 405)),
        ("GET", EMBEDDINGS, expect(404, 405)),
        ("POST", MODELS, expect(404, 405)),
        ("POST", HEALTH_READY, expect(404, 405)),
        ("POST", HEALTH_LIVE, expect(404, 405)),
        ("POST", METRICS, expect(404, 405)),
        ("DELETE", API_TAGS, expect(404, 405)),
        ("GET", API_PULL, expect(403, 404, 405)),
        ("GET", API_CHAT, expect(404, 405)),
        ("HEAD", MODELS, expect(200, 404, 405)),
        ("HEAD", CHAT, expect(404, 405)),
        ("HEAD", HEALTH_LIVE, expect(200, 404, 405)),
        ("HEAD", API_TAGS, expect(200, 404, 405, ollama_shape_ok=True)),
    )
    for method, target, rules in specs:
        name = method if len(method) < 20 else f"{method[:8]}...x{len(method)}"
        name = name.encode("unicode_escape").decode().replace("\\", "")
        yield Case(
            f"method.{name}-{SHORT.get(target, target.strip('/').replace('/', '-') or 'root')}",
            "methods",
            rules,
            method=method,
            target=target.encode(),
            body=SMALL_CHAT if method in ("POST", "PUT", "PATCH", "DELETE") else None,
        )


def header_cases() -> Iterator[Case]:
    """Hostile header bytes, sizes and combinations (auth, Host, Content-Type, Upgrade, ...)."""
    lenient_framing = expect(success_ok=True, parser_may_reject=True, may_close=True)
    specs: tuple[tuple[str, Expect, dict[str, Any]], ...] = (
        (
            "authorization-ctl-01",
            expect(400, 401, parser_may_reject=True, may_close=True),
            {"auth": False, "headers": ((b"Authorization", b"Bearer sk-\x01abc"),)},
        ),
        (
            "authorization-del",
            expect(400, 401, parser_may_reject=True, may_close=True),
            {"auth": False, "headers": ((b"Authorization", b"Bearer sk-\x7fabc"),)},
        ),
        (
            "authorization-tab-separator",
            expect(400, 401, parser_may_reject=True),
            {"auth": False, "headers": ((b"Authorization", b"Bearer\t@@KEY@@"),)},
        ),
        (
            "authorization-64k",
            expect(400, 401, 413, 431, 494, parser_may_reject=True, may_close=True),
            {"auth": False, "headers": ((b"Authorization", b"Bearer " + b"k" * 65536),)},
        ),
        (
            "header-100k",
            expect(400, 413, 431, 494, parser_may_reject=True, may_close=True, success_ok=True),
            {"headers": ((b"X-Huge", b"h" * 100_000),)},
        ),
        (
            "header-name-10k",
            expect(400, 413, 431, 494, parser_may_reject=True, may_close=True, success_ok=True),
            {"headers": ((b"X-" + b"n" * 10_000, b"1"),)},
        ),
        (
            "500-headers",
            lenient_framing,
            {"headers": tuple((f"X-H{i}".encode(), b"v") for i in range(500))},
        ),
        (
            "duplicate-authorization-valid-first",
            lenient_framing,
            {"headers": ((b"Authorization", b"Bearer sk-other"),)},
        ),
        ("no-host", lenient_framing, {"host": False}),
        ("empty-host", lenient_framing, {"host": False, "headers": ((b"Host", b""),)}),
        ("two-hosts", lenient_framing, {"headers": ((b"Host", b"other.example"),)}),
        ("host-with-space", lenient_framing, {"host": False, "headers": ((b"Host", b"a b"),)}),
        (
            "host-port-99999",
            lenient_framing,
            {"host": False, "headers": ((b"Host", b"localhost:99999"),)},
        ),
        ("host-8k", lenient_framing, {"host": False, "headers": ((b"Host", b"h" * 8000),)}),
        (
            "host-non-ascii",
            lenient_framing,
            {"host": False, "headers": ((b"Host", "h\u00e9.example".encode()),)},
        ),
        ("content-type-missing", LENIENT, {"content_type": None}),
        ("content-type-text-plain", LENIENT, {"content_type": b"text/plain"}),
        ("content-type-form", LENIENT, {"content_type": b"application/x-www-form-urlencoded"}),
        ("content-type-multipart", LENIENT, {"content_type": b"multipart/form-data; boundary=x"}),
        ("content-type-garbage", LENIENT, {"content_type": b";;;=\xff"}),
        (
            "content-type-charset-latin1",
            LENIENT,
            {
                "content_type": b"application/json; charset=latin-1",
                "body": SMALL_CHAT.replace(b'"hi"', b'"caf\xe9"'),
            },
        ),
        (
            "content-encoding-gzip-plain-body",
            LENIENT,
            {"headers": ((b"Content-Encoding", b"gzip"),)},
        ),
        ("content-encoding-unknown", LENIENT, {"headers": ((b"Content-Encoding", b"magic"),)}),
        ("x-request-id-10k", LENIENT, {"headers": ((b"X-Request-ID", b"r" * 10_000),)}),
        (
            "x-request-id-utf8",
            LENIENT,
            {"headers": ((b"X-Request-ID", "\u202eid\u200b".encode()),)},
        ),
        ("x-request-id-ctl", lenient_framing, {"headers": ((b"X-Request-ID", b"a\x01b"),)}),
        (
            "x-forwarded-for-garbage",
            LENIENT,
            {"headers": ((b"X-Forwarded-For", b"not-an-ip, ::::, 999.1.1.1"),)},
        ),
        (
            "x-forwarded-for-1000-hops",
            LENIENT,
            {"headers": ((b"X-Forwarded-For", b", ".join([b"10.0.0.1"] * 1000)),)},
        ),
        ("accept-html", LENIENT, {"headers": ((b"Accept", b"text/html"),)}),
        ("accept-encoding-gzip", LENIENT, {"headers": ((b"Accept-Encoding", b"gzip, br, zstd"),)}),
        ("range", LENIENT, {"headers": ((b"Range", b"bytes=0-1"),)}),
        (
            "upgrade-websocket",
            lenient_framing,
            {
                "headers": (
                    (b"Connection", b"Upgrade"),
                    (b"Upgrade", b"websocket"),
                    (b"Sec-WebSocket-Version", b"13"),
                    (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                )
            },
        ),
        (
            "upgrade-h2c",
            lenient_framing,
            {
                "headers": (
                    (b"Connection", b"Upgrade, HTTP2-Settings"),
                    (b"Upgrade", b"h2c"),
                    (b"HTTP2-Settings", b"AAMAAABkAAQAAP__"),
                )
            },
        ),
        (
            "connection-close",
            expect(success_ok=True, may_close=True),
            {"headers": ((b"Connection", b"close"),)},
        ),
        ("keep-alive-garbage", LENIENT, {"headers": ((b"Keep-Alive", b"timeout=-1, max=abc"),)}),
        ("cookie-16k", lenient_framing, {"headers": ((b"Cookie", b"c=" + b"x" * 16_000),)}),
        ("origin-evil", LENIENT, {"headers": ((b"Origin", b"https://evil.example"),)}),
        ("user-agent-utf8", LENIENT, {"headers": ((b"User-Agent", "\u202e\U0001f600".encode()),)}),
        (
            "x-api-key-and-bad-bearer",
            expect(200, 401),
            {
                "auth": False,
                "headers": ((b"Authorization", b"Basic Zm9vOmJhcg=="), (b"X-API-Key", b"@@KEY@@")),
            },
        ),
        ("x-fake-fault-header", LENIENT, {"headers": ((b"X-Fake-Fault", b"http-500"),)}),
    )
    for name, rules, options in specs:
        options = dict(options)
        body = options.pop("body", SMALL_CHAT)
        yield Case(f"header.{name}", "headers", rules, body=body, **options)


def path_cases() -> Iterator[Case]:
    """Trailing slashes, //, %00, non-ASCII, traversal, very long paths and odd targets."""
    served_or_404 = expect(404, 405, success_ok=True, ollama_shape_ok=True)
    for path in POSTS:
        yield Case(
            f"path.trailing-slash-{SHORT[path]}",
            "paths",
            replace(served_or_404, statuses=frozenset({403, 404, 405}))
            if path == API_PULL
            else served_or_404,
            target=(path + "/").encode(),
            body=encode(BASES[path]),
        )
    for path in GETS:
        yield Case(
            f"path.trailing-slash-{SHORT[path]}",
            "paths",
            # /metrics may need its own token (401).
            replace(served_or_404, statuses=frozenset({401, 404, 405}))
            if path == METRICS
            else served_or_404,
            method="GET",
            target=(path + "/").encode(),
        )
    get_specs: tuple[tuple[str, bytes, Expect], ...] = (
        ("double-slash-prefix", b"//v1/models", served_or_404),
        ("double-slash-middle", b"/v1//models", served_or_404),
        ("nul-suffix", b"/v1/models%00", expect(400, 404)),
        ("nul-in-model-id", b"/v1/models/gpt%00oss", expect(400, 404)),
        (
            "raw-utf8-model-id",
            "/v1/models/\u00e9\u202e".encode(),
            expect(400, 404, parser_may_reject=True),
        ),
        ("encoded-utf8-model-id", b"/v1/models/%C3%A9", NOT_FOUND),
        ("encoded-lone-surrogate-model-id", b"/v1/models/%ED%A0%80", NOT_FOUND),
        ("encoded-invalid-utf8-model-id", b"/v1/models/%ff%fe", NOT_FOUND),
        ("invalid-percent-escape", b"/v1/models/%zz", expect(400, 404, parser_may_reject=True)),
        (
            "dot-dot-to-tags",
            b"/v1/../api/tags",
            expect(404, success_ok=True, parser_may_reject=True),
        ),
        (
            "dot-dot-model-id",
            b"/v1/models/../../health/live",
            expect(404, success_ok=True, parser_may_reject=True),
        ),
        ("dot-dot-above-root", b"/../../../etc/passwd", expect(400, 404, parser_may_reject=True)),
        ("encoded-dot-dot", b"/v1/models/%2e%2e%2f%2e%2e%2fhealth", NOT_FOUND),
        ("encoded-slash-model-id", b"/v1/models/gpt-oss%2F20b", NOT_FOUND),
        ("backslashes", b"\\v1\\models", expect(400, 404, parser_may_reject=True)),
        ("upper-case-path", b"/V1/MODELS", NOT_FOUND),
        ("semicolon-params", b"/v1/models;x=1", NOT_FOUND),
        ("path-4k", b"/v1/" + b"a" * 4096, expect(404, 414, parser_may_reject=True)),
        (
            "path-16k",
            b"/v1/" + b"a" * 16384,
            expect(404, 414, 431, 494, 400, parser_may_reject=True, may_close=True),
        ),
        (
            "path-100k",
            b"/v1/" + b"a" * 100_000,
            expect(404, 414, 431, 494, 400, parser_may_reject=True, may_close=True),
        ),
        (
            "model-id-8k",
            b"/v1/models/" + b"m" * 8192,
            expect(404, 414, 400, parser_may_reject=True, may_close=True),
        ),
        (
            "absolute-form",
            b"http://example.com/v1/models",
            expect(200, 400, 404, parser_may_reject=True),
        ),
        ("fragment", b"/v1/models#frag", expect(200, 400, 404, parser_may_reject=True)),
        ("query-bad-escape", b"/v1/models?a=%zz&&==", expect(200, 400, parser_may_reject=True)),
        (
            "query-10k",
            b"/v1/models?q=" + b"x" * 10_000,
            expect(200, 400, 414, parser_may_reject=True, may_close=True),
        ),
        ("query-nul", b"/health/live?x=%00", expect(200, 400)),
        (
            "query-raw-utf8",
            "/health/ready?x=\u00e9".encode(),
            expect(200, 400, parser_may_reject=True),
        ),
        ("no-leading-slash", b"v1/models", expect(400, 404, parser_may_reject=True)),
        ("asterisk-get", b"*", expect(400, 404, parser_may_reject=True)),
        ("models-trailing-slash-empty-id", b"/v1/models/", expect(404, success_ok=True)),
        (
            "model-id-colon-and-slash",
            b"/v1/models/library/gpt-oss:20b",
            expect(404, success_ok=True),
        ),
    )
    for name, target, rules in get_specs:
        yield Case(f"path.{name}", "paths", rules, method="GET", target=target)
    yield Case(
        "path.nul-suffix-chat",
        "paths",
        expect(400, 404),
        target=b"/v1/chat/completions%00",
        body=SMALL_CHAT,
    )
    yield Case("path.api-unknown", "paths", NOT_FOUND, target=b"/api/does-not-exist", body=b"{}")


def auth_cases() -> Iterator[Case]:
    """Missing, malformed and wrong keys, on every protected route."""
    for path in POSTS:
        yield Case(
            f"auth.missing-{SHORT[path]}",
            "auth",
            UNAUTHORIZED,
            target=path.encode(),
            body=encode(BASES[path]),
            auth=False,
        )
    for path in PROTECTED_GETS:
        name = SHORT.get(path, "model-id")
        yield Case(
            f"auth.missing-{name}",
            "auth",
            UNAUTHORIZED,
            method="GET",
            target=path.encode(),
            auth=False,
        )
    malformed = {
        "bearer-no-token": (UNAUTHORIZED, b"Bearer"),
        "bearer-blank-token": (UNAUTHORIZED, b"Bearer    "),
        "basic-scheme": (UNAUTHORIZED, b"Basic Zm9vOmJhcg=="),
        "token-scheme": (UNAUTHORIZED, b"Token @@KEY@@"),
        "no-scheme": (UNAUTHORIZED, b"@@KEY@@"),
        "bearer-lower-case": (expect(200, 401), b"bearer @@KEY@@"),
        "bearer-upper-case": (expect(200, 401), b"BEARER @@KEY@@"),
        "bearer-double-space": (expect(200, 401), b"Bearer  @@KEY@@"),
        "empty": (UNAUTHORIZED, b""),
    }
    for name, (rules, value) in malformed.items():
        yield Case(
            f"auth.{name}",
            "auth",
            rules,
            method="GET",
            target=MODELS.encode(),
            auth=False,
            headers=((b"Authorization", value),),
        )
    yield Case(
        "auth.x-api-key-empty",
        "auth",
        UNAUTHORIZED,
        method="GET",
        target=MODELS.encode(),
        auth=False,
        headers=((b"X-API-Key", b""),),
    )
    yield Case(
        "auth.x-api-key-valid",
        "auth",
        expect(200),
        method="GET",
        target=MODELS.encode(),
        auth=False,
        headers=((b"X-API-Key", b"@@KEY@@"),),
    )
    # Wrong keys count against the client address in the failed-auth limiter: keep these few.
    wrong = {
        "wrong-key": b"Bearer sk-wrong-0000000000000000000000000000000000",
        "key-with-spaces": b"Bearer sk-with spaces inside",
        "key-7k": b"Bearer sk-" + b"k" * 7000,
        "key-non-ascii": "Bearer sk-\u00e9\u00e8".encode("latin-1"),
    }
    for name, value in wrong.items():
        yield Case(
            f"auth.{name}",
            "auth",
            expect(401, 429),
            target=CHAT.encode(),
            body=SMALL_CHAT,
            auth=False,
            headers=((b"Authorization", value),),
            counts_auth_failure=True,
        )
    yield Case(
        "auth.missing-metrics-token",
        "auth",
        expect(200, 401),
        method="GET",
        target=METRICS.encode(),
        auth=False,
    )
    yield Case(
        "auth.metrics-bad-token",
        "auth",
        expect(200, 401),
        method="GET",
        target=METRICS.encode(),
        auth=False,
        headers=((b"Authorization", b"Bearer \xff\xfe"),),
    )
    yield Case(
        "auth.health-with-garbage-auth",
        "auth",
        expect(200),
        method="GET",
        target=HEALTH_LIVE.encode(),
        auth=False,
        headers=((b"Authorization", b"\xff" * 100),),
    )


def corpus(max_body_bytes: int) -> tuple[Case, ...]:
    """Every case, for a server whose request-body limit is ``max_body_bytes``."""
    cases = (
        *json_cases(),
        *type_cases(),
        *number_cases(),
        *unicode_cases(),
        *nesting_cases(),
        *size_cases(max_body_bytes),
        *framing_cases(),
        *method_cases(),
        *header_cases(),
        *path_cases(),
        *auth_cases(),
    )
    names = [case.name for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate case names: {duplicates}")
    unknown = sorted({case.klass for case in cases} - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown classes: {unknown}")
    return cases


def counts(cases: tuple[Case, ...]) -> dict[str, int]:
    """How many cases each class has."""
    return {klass: sum(1 for case in cases if case.klass == klass) for klass in CLASSES}


__all__ = [
    "CLASSES",
    "Case",
    "Expect",
    "corpus",
    "counts",
    "envelope_problem",
    "innocent_request",
    "judge",
]
