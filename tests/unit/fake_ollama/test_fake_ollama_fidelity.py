"""Semantic paths where the fake follows real Ollama 0.32.15 (the pinned release) to the letter.

Each test names the upstream file (at tag v0.32.15 of ollama/ollama) whose behaviour it follows.
"""

from __future__ import annotations

from fake_ollama.testing import FakeOllamaProcess
from tests.unit.fake_ollama.fake_ollama_support import WEATHER_TOOL, chat, ndjson, post


def test_suffix_needs_the_insert_capability_which_gpt_oss_lacks(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # server/routes.go GenerateHandler: a non-empty suffix adds model.CapabilityInsert;
    # scheduleRunner -> Model.CheckCapabilities (server/images.go) fails with
    # "<full name> does not support insert", a 400 from handleScheduleError. Only templates
    # that use .Suffix have insert (goTemplateCapabilities); gpt-oss's does not.
    body = {"model": "gpt-oss:20b", "prompt": "def add(a, b):", "suffix": "return c"}
    for stream in (True, False):
        refused = post(fake_ollama, "/api/generate", {**body, "stream": stream})
        assert refused.status_code == 400
        assert refused.json() == {
            "error": "registry.ollama.ai/library/gpt-oss:20b does not support insert"
        }
    # Even a load-only request (empty prompt) is refused: the check comes before the load.
    assert post(fake_ollama, "/api/generate", {**body, "prompt": ""}).status_code == 400
    # An empty suffix asks for nothing.
    assert post(fake_ollama, "/api/generate", {**body, "suffix": ""}).status_code == 200
    # A code model whose template uses .Suffix accepts it.
    fake_ollama.configure(models=["gpt-oss:20b", "qwen2.5-coder:7b"])
    coder = post(fake_ollama, "/api/generate", {**body, "model": "qwen2.5-coder:7b"})
    assert coder.status_code == 200
    show = post(fake_ollama, "/api/show", {"model": "qwen2.5-coder:7b"}).json()
    assert "insert" in show["capabilities"]
    assert (
        "insert"
        not in post(fake_ollama, "/api/show", {"model": "gpt-oss:20b"}).json()["capabilities"]
    )
    # A suffix of the wrong JSON type is Go's unmarshal error.
    wrong = post(fake_ollama, "/api/generate", {**body, "suffix": 3})
    assert wrong.status_code == 400
    assert "GenerateRequest.suffix of type string" in wrong.json()["error"]


def test_a_model_without_completion_refuses_chat_by_its_name_as_sent(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # server/routes.go ChatHandler: errCapabilityCompletion -> 400 "%q does not support chat"
    # (the name as sent, quoted), checked before the tools capability.
    fake_ollama.configure(models=["gpt-oss:20b", "nomic-embed-text"])
    refused = chat(fake_ollama, model="nomic-embed-text", tools=[WEATHER_TOOL])
    assert refused.status_code == 400
    assert refused.json() == {"error": '"nomic-embed-text" does not support chat'}
    assert ndjson(chat(fake_ollama))[-1]["done"] is True


def test_a_generation_model_cannot_embed(fake_ollama: FakeOllamaProcess) -> None:
    # llm/llama_server.go: gpt-oss (no pooling head) runs in llama-server without --embeddings,
    # whose /v1/embeddings refuses with 501; server/routes.go EmbedHandler passes that status and
    # text on, EmbeddingsHandler (legacy) answers 500 with the same text. Empty input returns
    # before the runner is asked, so it still succeeds.
    text = "This server does not support embeddings. Start it with `--embeddings`"
    for model in ("gpt-oss:20b", "llama3.2"):
        fake_ollama.configure(models=[model])
        refused = post(fake_ollama, "/api/embed", {"model": model, "input": ["a", "b"]})
        assert (refused.status_code, refused.json()) == (501, {"error": text})
        legacy = post(fake_ollama, "/api/embeddings", {"model": model, "prompt": "a"})
        assert (legacy.status_code, legacy.json()) == (500, {"error": text})
        empty = post(fake_ollama, "/api/embed", {"model": model, "input": []})
        assert empty.json() == {"model": model, "embeddings": []}
    fake_ollama.configure(models=["nomic-embed-text"])
    vectors = post(fake_ollama, "/api/embed", {"model": "nomic-embed-text", "input": "a"}).json()
    assert len(vectors["embeddings"][0]) == 768


def test_a_stop_string_in_the_reasoning_ends_the_reply_before_any_answer(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # llm/llama_server.go Completion passes options.stop to llama-server, which matches it on the
    # raw output; for gpt-oss that starts with the analysis channel (the reasoning), so a stop
    # string found there ends generation before the answer: empty content, done_reason "stop".
    messages = [{"role": "user", "content": "Say hello. Then bye"}]
    body = chat(fake_ollama, stream=False, messages=messages, options={"stop": ["."]}).json()
    assert body["message"]["thinking"] == "Reasoning (medium) about: Say hello"
    assert body["message"]["content"] == ""
    assert body["done_reason"] == "stop"
    tools = chat(fake_ollama, stream=False, tools=[WEATHER_TOOL], options={"stop": ["about"]})
    assert "tool_calls" not in tools.json()["message"]
    # A stop string only in the answer cuts the answer.
    answer = chat(fake_ollama, stream=False, options={"stop": [" to:"]}).json()
    assert answer["message"]["content"] == "Fake answer"


def test_keep_alive_strings_need_a_unit_like_go_durations(fake_ollama: FakeOllamaProcess) -> None:
    # api/types.go Duration.UnmarshalJSON: a number is seconds, a string goes through
    # time.ParseDuration (a bare "300" has no unit), other JSON types are unsupported.
    for keep_alive, error in (
        ("300", 'time: missing unit in duration "300"'),
        (True, "Unsupported type: 'bool'"),
        ({"s": 1}, "Unsupported type: 'map[string]interface {}'"),
    ):
        refused = chat(fake_ollama, stream=False, keep_alive=keep_alive)
        assert (refused.status_code, refused.json()) == (400, {"error": error})
    for keep_alive in (300, "5m", "-1s", "0"):
        assert chat(fake_ollama, stream=False, keep_alive=keep_alive).status_code == 200
