"""The fake's /api/chat and /api/generate: framing, ordering, tools, format, limits, errors."""

from __future__ import annotations

import re
import statistics

import httpx
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.fake_ollama.fake_ollama_support import (
    METRICS,
    RFC3339_NANO,
    WEATHER_TOOL,
    chat,
    ndjson,
    post,
)


def test_streaming_chat_is_ndjson_thinking_then_content_then_one_final_line(
    fake_ollama: FakeOllamaProcess,
) -> None:
    response = chat(fake_ollama)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = ndjson(response)
    assert len(lines) == 8 + 12 + 1
    *chunks, final = lines
    assert [bool(c["message"].get("thinking")) for c in chunks] == [True] * 8 + [False] * 12
    assert all(c["done"] is False and c["message"]["role"] == "assistant" for c in chunks)
    assert all(not set(METRICS) & set(c) for c in chunks)
    assert all(RFC3339_NANO.match(line["created_at"]) for line in lines)
    thinking = "".join(c["message"].get("thinking", "") for c in chunks)
    content = "".join(c["message"]["content"] for c in chunks)
    assert thinking == "Reasoning (medium) about: Say hello lorem ipsum dolor"
    assert content == "Fake answer to: Say hello lorem ipsum dolor sit amet consectetur adipiscing"
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert all(isinstance(final[m], int) and final[m] > 0 for m in METRICS)
    assert final["eval_count"] == 20
    assert final["prompt_eval_count"] == 4 + 2


def test_non_streaming_chat_is_one_json_object_with_the_whole_text(
    fake_ollama: FakeOllamaProcess,
) -> None:
    response = chat(fake_ollama, stream=False)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["message"]["content"].startswith("Fake answer to: Say hello")
    assert body["message"]["thinking"].startswith("Reasoning (medium) about: Say hello")
    assert body["done_reason"] == "stop"
    assert body["total_duration"] >= body["eval_duration"]
    assert all(isinstance(body[m], int) for m in METRICS)


def test_server_time_of_a_non_streaming_chat_has_no_built_in_delay(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # With every delay knob at zero the fake answers at once (about 0.2 ms of server time on an
    # idle 2-core machine). The bound is a hundred times that: it catches a delay built into the
    # fake (a sleep, a model "load"), not a machine too busy to be fast.
    durations = [chat(fake_ollama, stream=False).json()["total_duration"] for _ in range(40)]
    assert statistics.median(durations) < 20_000_000


def test_token_counts_follow_the_knobs_and_the_x_fake_tokens_header(
    fake_ollama: FakeOllamaProcess,
) -> None:
    fake_ollama.configure(thinking_tokens=2, content_tokens=3)
    assert chat(fake_ollama, stream=False).json()["message"] == {
        "role": "assistant",
        "content": "Fake answer to:",
        "thinking": "Reasoning (medium)",
    }
    body = chat(fake_ollama, headers={"X-Fake-Tokens": "1,5"}, stream=False).json()
    assert body["message"]["thinking"] == "Reasoning"
    assert body["message"]["content"] == "Fake answer to: Say hello"
    assert body["eval_count"] == 6


def test_num_predict_caps_reasoning_and_content_with_done_reason_length(
    fake_ollama: FakeOllamaProcess,
) -> None:
    body = chat(fake_ollama, stream=False, options={"num_predict": 10}).json()
    assert body["done_reason"] == "length"
    assert body["eval_count"] == 10
    assert body["message"]["content"] == "Fake answer"
    only_thinking = chat(fake_ollama, stream=False, options={"num_predict": 5}).json()
    assert only_thinking["message"]["content"] == ""
    assert only_thinking["message"]["thinking"] == "Reasoning (medium) about: Say hello"


def test_stop_sequence_cuts_the_content(fake_ollama: FakeOllamaProcess) -> None:
    # " to:" occurs in the answer only (the reasoning says "about:").
    body = chat(fake_ollama, stream=False, options={"stop": [" to:"]}).json()
    assert body["message"]["content"] == "Fake answer"
    assert body["done_reason"] == "stop"


@pytest.mark.parametrize(("think", "level"), [("low", "low"), ("max", "high"), (False, "medium")])
def test_think_levels_show_in_the_reasoning(
    fake_ollama: FakeOllamaProcess, think: object, level: str
) -> None:
    body = chat(fake_ollama, stream=False, think=think).json()
    assert body["message"]["thinking"].startswith(f"Reasoning ({level}) about:")


def test_invalid_think_value_is_a_400_with_ollamas_message(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, think="xyz")
    assert response.status_code == 400
    allowed = '"high", "medium", "low", "max", true, or false'
    assert response.json() == {"error": f'invalid think value: "xyz" (must be {allowed})'}
    # api/types.go ThinkValue.UnmarshalJSON (v0.32.15): neither a boolean nor a string.
    number = chat(fake_ollama, think=1)
    assert number.status_code == 400
    assert number.json() == {"error": f"think must be a boolean or string ({allowed})"}


def test_gpt_oss_tool_call_arrives_only_on_the_final_chunk(fake_ollama: FakeOllamaProcess) -> None:
    lines = ndjson(chat(fake_ollama, tools=[WEATHER_TOOL]))
    *chunks, final = lines
    assert all("tool_calls" not in c["message"] for c in chunks)
    assert all(c["message"]["content"] == "" for c in chunks)
    (call,) = final["message"]["tool_calls"]
    assert re.fullmatch(r"call_[a-z0-9]{8}", call["id"])
    assert call["function"] == {
        "index": 0,
        "name": "get_weather",
        "arguments": {"city": "fake-city", "unit": "celsius", "days": 1},
    }
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == 8 + 12


def test_the_tool_named_in_the_prompt_is_chosen(fake_ollama: FakeOllamaProcess) -> None:
    other = {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    messages = [{"role": "user", "content": "please get_weather for Paris"}]
    body = chat(fake_ollama, stream=False, messages=messages, tools=[other, WEATHER_TOOL]).json()
    assert body["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_a_tool_result_is_answered_in_content(fake_ollama: FakeOllamaProcess) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather"}}]},
        {"role": "tool", "tool_name": "get_weather", "content": "sunny 21C"},
    ]
    body = chat(fake_ollama, stream=False, messages=messages, tools=[WEATHER_TOOL]).json()
    assert "tool_calls" not in body["message"]
    assert body["message"]["content"].startswith("Fake answer using get_weather result: sunny 21C")


def test_format_json_and_schema_give_valid_json_content(fake_ollama: FakeOllamaProcess) -> None:
    as_json = chat(fake_ollama, stream=False, format="json").json()["message"]["content"]
    assert orjson.loads(as_json)["answer"].startswith("Fake answer to: Say hello")
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    streamed = ndjson(chat(fake_ollama, format=schema))
    content = "".join(line["message"]["content"] for line in streamed)
    assert orjson.loads(content) == {"name": "fake-name", "age": 1}


def test_empty_messages_load_and_keep_alive_zero_unloads(fake_ollama: FakeOllamaProcess) -> None:
    loaded = chat(fake_ollama, messages=[])
    assert loaded.headers["content-type"] == "application/json; charset=utf-8"
    assert loaded.json()["done_reason"] == "load"
    assert loaded.json()["message"] == {"role": "assistant", "content": ""}
    unloaded = chat(fake_ollama, messages=[], keep_alive=0).json()
    assert unloaded["done_reason"] == "unload"


def test_unknown_model_is_a_404_with_the_name_as_sent(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, model="gpt-oss:21b")
    assert response.status_code == 404
    assert response.json() == {"error": "model 'gpt-oss:21b' not found"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"messages": []}, 400, "model is required"),
        (
            {"model": "gpt-oss:20b", "messages": "hi"},
            400,
            "json: cannot unmarshal string into Go "
            "struct field ChatRequest.messages of type []api.Message",
        ),
        (
            {"model": "gpt-oss:20b", "options": {"temperature": "hot"}},
            500,
            'option "temperature" must be of type float32',
        ),
        ({"model": "gpt-oss:20b", "keep_alive": "soon"}, 400, 'time: invalid duration "soon"'),
        (
            {"model": "gpt-oss:20b", "tools": ["get_weather"]},
            400,
            "json: cannot unmarshal string into Go struct field ChatRequest.tools of type api.Tool",
        ),
    ],
)
def test_bad_chat_requests_get_ollamas_errors(
    fake_ollama: FakeOllamaProcess, body: dict[str, object], status: int, message: str
) -> None:
    response = post(fake_ollama, "/api/chat", body)
    assert (response.status_code, response.json()) == (status, {"error": message})


def test_malformed_and_missing_bodies_are_400(fake_ollama: FakeOllamaProcess) -> None:
    bad = fake_ollama.url + "/api/chat"
    assert httpx.post(bad, content=b"xyz", timeout=5).json() == {
        "error": "invalid character 'x' looking for beginning of value"
    }
    assert httpx.post(bad, content=b"", timeout=5).json() == {"error": "missing request body"}


def test_generate_streams_response_and_ends_with_context(fake_ollama: FakeOllamaProcess) -> None:
    lines = ndjson(post(fake_ollama, "/api/generate", {"model": "gpt-oss:20b", "prompt": "Why?"}))
    *chunks, final = lines
    assert [bool(c.get("thinking")) for c in chunks] == [True] * 8 + [False] * 12
    assert "".join(c["response"] for c in chunks).startswith("Fake answer to: Why?")
    assert final["response"] == ""
    assert final["done_reason"] == "stop"
    assert final["context"]
    assert all(isinstance(i, int) for i in final["context"])
    assert final["prompt_eval_count"] == 4 + 1


def test_generate_non_streaming_raw_mode_and_load(fake_ollama: FakeOllamaProcess) -> None:
    body = {"model": "gpt-oss:20b", "prompt": "Why?", "stream": False, "raw": True}
    whole = post(fake_ollama, "/api/generate", body).json()
    assert whole["response"].startswith("Fake answer to: Why?")
    assert whole["thinking"].startswith("Reasoning (medium) about: Why?")
    assert "context" not in whole
    rejected = post(fake_ollama, "/api/generate", {**body, "system": "be brief"})
    assert rejected.status_code == 400
    assert rejected.json() == {"error": "raw mode does not support template, system, or context"}
    load = post(fake_ollama, "/api/generate", {"model": "gpt-oss:20b"}).json()
    assert (load["response"], load["done_reason"]) == ("", "load")


def test_non_thinking_models_have_no_reasoning_and_refuse_think_true(
    fake_ollama: FakeOllamaProcess,
) -> None:
    fake_ollama.configure(models=["gpt-oss:20b", "llama3.2"])
    plain = chat(fake_ollama, model="llama3.2", stream=False).json()
    assert "thinking" not in plain["message"]
    assert plain["eval_count"] == 12
    refused = chat(fake_ollama, model="llama3.2", think=True)
    assert refused.status_code == 400
    assert refused.json() == {"error": '"llama3.2" does not support thinking'}
    lines = ndjson(chat(fake_ollama, model="llama3.2", tools=[WEATHER_TOOL]))
    assert "tool_calls" in lines[-2]["message"]
    assert "tool_calls" not in lines[-1]["message"]
