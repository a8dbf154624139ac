"""In-process checks of the fake's pure parts: generation rules, knobs, host parsing, time."""

from __future__ import annotations

import math
import re

import pytest

from fake_ollama.clock import FOREVER_SECONDS, parse_duration, rfc3339
from fake_ollama.config import ConfigError, Settings, settings_from_env
from fake_ollama.faults import Fault, UnknownFaultError, resolve
from fake_ollama.generation import (
    ReplyRequest,
    count_chat_prompt,
    embedding,
    fit_words,
    plan_reply,
    split_pieces,
    value_from_schema,
)
from fake_ollama.hostport import base_url, parse_ollama_host


def test_fit_words_cuts_or_pads_with_the_filler() -> None:
    assert fit_words(["a", "b", "c"], 2) == ["a", "b"]
    assert fit_words(["a"], 4) == ["a", "lorem", "ipsum", "dolor"]


def test_split_pieces_round_trips() -> None:
    text = '{"answer":"x"}'
    pieces = split_pieces(text, 5)
    assert len(pieces) == 5
    assert "".join(pieces) == text
    assert split_pieces("ab", 5) == ["a", "b"]


def test_value_from_schema_follows_types_enums_refs_and_required() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number", "minimum": 3},
            "ok": {"type": ["boolean", "null"]},
            "owner": {"$ref": "#/$defs/Person"},
            "kind": {"anyOf": [{"type": "null"}, {"enum": ["a", "b"]}]},
        },
        "required": ["when", "extra"],
        "$defs": {"Person": {"type": "object", "properties": {"age": {"type": "integer"}}}},
    }
    assert value_from_schema(schema) == {
        "when": "2025-01-01",
        "tags": ["fake-tags"],
        "score": 3.0,
        "ok": True,
        "owner": {"age": 1},
        "kind": "a",
        "extra": "fake-extra",
    }


def test_plan_counts_reasoning_in_num_predict_and_a_cut_tool_call_is_a_parse_error() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    whole = plan_reply(ReplyRequest("hi", think_level="low", tools=tools))
    assert whole.eval_count == 8 + 12
    assert whole.content == []
    assert whole.call_error is None
    assert re.fullmatch(r"call_[a-z0-9]{8}", whole.tool_calls[0]["id"])
    # Cut inside the call: Ollama 0.32.15's harmony parser fails on the half-written arguments
    # (harmony/harmonyparser.go, HarmonyMessageHandler.Add).
    cut = plan_reply(ReplyRequest("hi", think_level="low", tools=tools, num_predict=9))
    assert (cut.tool_calls, cut.done_reason, cut.eval_count) == ([], "length", 9)
    assert cut.call_error == "error parsing tool call: raw='{', err=unexpected end of JSON input"
    # Cut in the reasoning: the call never started, a plain ``length``.
    early = plan_reply(ReplyRequest("hi", think_level="low", tools=tools, num_predict=8))
    assert (early.tool_calls, early.done_reason, early.call_error) == ([], "length", None)


def test_prompt_count_is_words_plus_overheads() -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]
    assert count_chat_prompt(messages, []) == (4 + 2) + (4 + 2)
    assert count_chat_prompt(messages, [{}]) == 12 + 16


def test_embeddings_are_deterministic_unit_vectors() -> None:
    first, again, other = embedding("x", 32), embedding("x", 32), embedding("y", 32)
    assert first == again != other
    assert math.isclose(math.hypot(*first), 1.0)


def test_settings_from_env_with_ollama_fallbacks_and_precedence() -> None:
    env = {
        "FAKE_OLLAMA_MODELS": "",
        "FAKE_OLLAMA_TOKEN_DELAY": "0.5",
        "OLLAMA_NUM_PARALLEL": "1",
        "OLLAMA_KEEP_ALIVE": "-1",
        "FAKE_OLLAMA_QUIET": "true",
    }
    settings = settings_from_env(env)
    assert (settings.models, settings.token_delay, settings.num_parallel) == ((), 0.5, 1)
    assert (settings.keep_alive, settings.quiet) == ("-1", True)
    assert settings_from_env({**env, "FAKE_OLLAMA_NUM_PARALLEL": "0"}).num_parallel == 0
    with pytest.raises(ConfigError, match="integer"):
        settings_from_env({"FAKE_OLLAMA_CONTENT_TOKENS": "lots"})
    with pytest.raises(ConfigError, match=">= 0"):
        Settings().updated({"token_delay": -1})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("127.0.0.1", 11434)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":9000", ("127.0.0.1", 9000)),
        ("http://example:1234/", ("example", 1234)),
        ("[::1]:5000", ("::1", 5000)),
    ],
)
def test_parse_ollama_host(value: str | None, expected: tuple[str, int]) -> None:
    assert parse_ollama_host(value) == expected


def test_base_url_reaches_wildcard_binds_through_loopback() -> None:
    assert base_url("0.0.0.0", 11434) == "http://127.0.0.1:11434"
    assert base_url("::1", 1) == "http://[::1]:1"


def test_time_formats_and_durations() -> None:
    assert rfc3339(1_754_388_672_123_456_789) == "2025-08-05T10:11:12.123456789Z"
    assert rfc3339(1_754_388_672_100_000_000) == "2025-08-05T10:11:12.1Z"
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration(10) == 10
    assert parse_duration("-1m") == FOREVER_SECONDS
    with pytest.raises(ValueError, match='time: invalid duration "soon"'):
        parse_duration("soon")
    # api/types.go Duration.UnmarshalJSON (v0.32.15): a request's string goes through
    # time.ParseDuration; OLLAMA_KEEP_ALIVE (envconfig) also takes bare seconds.
    with pytest.raises(ValueError, match='time: missing unit in duration "300"'):
        parse_duration("300")
    assert parse_duration("300", env=True) == 300
    for value, go_type in ((True, "bool"), ({}, "map[string]interface {}"), ([], "[]interface {}")):
        with pytest.raises(ValueError, match=re.escape(f"Unsupported type: '{go_type}'")):
            parse_duration(value)


def test_faults_resolve_from_header_first_then_model_name() -> None:
    assert resolve(None, "fault-drop:latest") is Fault.DROP
    assert resolve("busy", "fault-drop") is Fault.BUSY
    assert resolve(None, "gpt-oss:20b") is None
    with pytest.raises(UnknownFaultError):
        resolve("nope", None)
