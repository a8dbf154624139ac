"""Structured output and context truncation in the fake follow Ollama 0.32.15 (the pinned release).

Each test names the upstream file (tag v0.32.15 of ollama/ollama) whose behaviour it follows.
"""

from __future__ import annotations

import threading

import httpx
import orjson

from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import wait_until
from tests.unit.fake_ollama.fake_ollama_support import USER_HELLO, chat, ndjson, post

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
# llama.cpp's json-schema-to-grammar refuses a type that is not a JSON type.
UNCONVERTIBLE = {"type": "object", "properties": {"when": {"type": "datetime"}}}


def test_a_schema_on_gpt_oss_answers_in_a_second_pass_after_free_reasoning(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # server/routes.go ChatHandler: with format on a thinking model the first pass runs without
    # the grammar; the first answer token cancels it and a second pass, prompted with the
    # reasoning, runs with the schema. The final metrics are the second pass's: eval_count is
    # the answer alone and prompt_eval_count includes the reasoning.
    lines = ndjson(chat(fake_ollama, format=PERSON, headers={"X-Fake-Tokens": "5,6"}))
    thinking = [line["message"].get("thinking", "") for line in lines[:-1]]
    answer = "".join(line["message"]["content"] for line in lines[:-1])
    assert all(thinking[:5])
    assert not any(thinking[5:])
    assert orjson.loads(answer) == {"name": "fake-name", "age": 1}
    final = lines[-1]
    plain = ndjson(chat(fake_ollama, headers={"X-Fake-Tokens": "5,6"}))[-1]
    assert final["eval_count"] == 6
    assert plain["eval_count"] == 11
    assert final["prompt_eval_count"] == plain["prompt_eval_count"] + 5


def test_the_second_pass_queues_behind_requests_already_waiting(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # server/routes.go ChatHandler: the second pass is a new runner Completion, which waits for
    # the runner's slot again (OLLAMA_NUM_PARALLEL) behind the requests queued meanwhile.
    fake_ollama.configure(num_parallel=1)
    events: list[str] = []
    structured = {"model": "gpt-oss:20b", "messages": USER_HELLO, "format": PERSON}

    def ask_structured() -> None:  # holds the slot while "loading" for 2 s
        headers = {"X-Fake-First-Token-Delay": "2"}
        with httpx.stream(
            "POST", fake_ollama.url + "/api/chat", json=structured, headers=headers, timeout=30
        ) as answer:
            for line in answer.iter_lines():
                if orjson.loads(line)["message"]["content"]:
                    events.append("structured answer")
                    return

    def ask_plain() -> None:
        chat(fake_ollama, stream=False, timeout=30)
        events.append("plain answer")

    first = threading.Thread(target=ask_structured)
    first.start()
    wait_until(lambda: fake_ollama.stats()["generations_in_flight"] == 1, "the first request")
    second = threading.Thread(target=ask_plain)
    second.start()
    wait_until(lambda: fake_ollama.stats()["generations_in_flight"] == 2, "the second to queue")
    first.join(timeout=60)
    second.join(timeout=60)
    assert events == ["plain answer", "structured answer"]


def test_a_schema_the_runner_cannot_convert_fails_after_the_reasoning(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # llm/llama_server.go Completion sends the schema as json_schema only in the second pass;
    # llama-server's 400 body becomes an api.StatusError. Streamed, it is an {"error": ...} line
    # after the reasoning (streamResponse: the writer was written); stream: false answers it
    # with status 400 (writeChatResponse).
    lines = ndjson(chat(fake_ollama, format=UNCONVERTIBLE))
    assert all(line["message"]["thinking"] for line in lines[:-1])
    error = orjson.loads(lines[-1]["error"])["error"]
    assert error["code"] == 400
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith('"json_schema": JSON schema conversion failed:')
    assert '"datetime"' in error["message"]
    whole = chat(fake_ollama, format=UNCONVERTIBLE, stream=False)
    assert whole.status_code == 400
    assert "JSON schema conversion failed" in whole.json()["error"]
    # An unanchored pattern is the other conversion failure every llama.cpp release has.
    pattern = {"type": "string", "pattern": "[a-z]+"}
    refused = chat(fake_ollama, format=pattern, stream=False)
    assert "Pattern must start with '^' and end with '$'" in refused.json()["error"]


def test_without_reasoning_the_grammar_is_never_applied(fake_ollama: FakeOllamaProcess) -> None:
    # server/routes.go ChatHandler switches to the constrained pass only when thinking came
    # before the answer: with no reasoning the single pass runs, and nothing converts the schema.
    answer = chat(fake_ollama, format=UNCONVERTIBLE, stream=False, headers={"X-Fake-Tokens": "0,4"})
    assert answer.status_code == 200


def test_old_messages_are_dropped_to_fit_the_context_keeping_system_and_the_last(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # server/prompt.go chatPrompt drops messages from the front until the prompt fits num_ctx,
    # keeping the system messages and always the last message. Fake tokens are words; each
    # message costs 4 more.
    fake_ollama.configure(context_length=40)
    system = {"role": "system", "content": "Be brief"}  # 6 tokens
    old = {"role": "user", "content": " ".join(["old"] * 40)}  # 44 tokens
    last = {"role": "user", "content": "Say hello"}  # 6 tokens
    body = chat(fake_ollama, stream=False, messages=[system, old, last]).json()
    assert body["prompt_eval_count"] == 12  # system + last: the old message is gone
    roomy = {"num_ctx": 80}  # the request's num_ctx is the window
    fits = chat(fake_ollama, stream=False, messages=[system, old, last], options=roomy)
    assert fits.json()["prompt_eval_count"] == 56


def test_one_prompt_longer_than_the_context_keeps_its_start_and_tail(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # llm/llama_server.go completionPromptForRequest: a prompt of num_ctx tokens or more keeps
    # num_keep (4) tokens and the tail, contextShiftPromptLimit = num_ctx - (num_ctx - 4) // 2.
    fake_ollama.configure(context_length=100)
    long = " ".join(["word"] * 300)
    generated = post(
        fake_ollama, "/api/generate", {"model": "gpt-oss:20b", "prompt": long, "stream": False}
    )
    assert generated.json()["prompt_eval_count"] == 100 - (100 - 4) // 2
    kept = chat(fake_ollama, stream=False, messages=[{"role": "user", "content": long}])
    assert kept.json()["prompt_eval_count"] == 52
    short = post(fake_ollama, "/api/generate", {"model": "gpt-oss:20b", "prompt": "hi"})
    assert ndjson(short)[-1]["prompt_eval_count"] == 5


def test_a_string_format_without_a_grammar_fails_late_too(fake_ollama: FakeOllamaProcess) -> None:
    # common/json-schema-to-grammar.cpp (llama.cpp, current): a string "format" it has no rule
    # for is refused rather than ignored; dates, times and UUIDs are known.
    email = {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}
    refused = chat(fake_ollama, format=email, stream=False)
    assert refused.status_code == 400
    assert 'Unsupported string \\"format\\": \\"email\\"' in refused.json()["error"]
    dated = {"type": "object", "properties": {"on": {"type": "string", "format": "date"}}}
    assert chat(fake_ollama, format=dated, stream=False).status_code == 200
    counted = {"type": "integer", "format": "int32"}  # a format on a number is an annotation
    assert chat(fake_ollama, format=counted, stream=False).status_code == 200
