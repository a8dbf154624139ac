"""The `gptoss` command: ask, models, health and the error messages people see (no tracebacks)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable

import httpx
import pytest

from gptoss import Client
from gptoss.cli import main

from .gptoss_fakes import (
    ANSWER_EVENTS,
    API_KEY,
    BASE_URL,
    ScriptedGateway,
    chat_completion,
    error_reply,
    json_reply,
    sse,
    stream_reply,
)

NGINX_OK = {"status": "ok"}  # nginx's own /nginx-health body

READY = {  # the gateway's /health/ready body
    "status": "ready",
    "components": {
        "ollama": {"status": "ok", "latency_ms": 1.2, "detail": "Ollama answers."},
        "model": {"status": "ok", "latency_ms": None, "detail": "gpt-oss:20b is present."},
        "redis": {"status": "ok", "latency_ms": 0.4, "detail": "Redis answers PING."},
    },
}
MODELS = {"object": "list", "data": [{"id": "gpt-oss:20b", "owned_by": "library", "created": 0}]}


class Terminal(io.StringIO):
    """Stdin that is a terminal: nothing is piped in."""

    def isatty(self) -> bool:
        return True


def factory(gateway: ScriptedGateway, *, api_key: str | None = API_KEY) -> Callable[..., Client]:
    def make(args: argparse.Namespace) -> Client:
        return Client(
            args.base_url or BASE_URL,
            args.api_key or api_key,
            model=args.model,
            timeout=args.timeout,
            transport=httpx.MockTransport(gateway),
            sleep=lambda _: None,
        )

    return make


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `gptoss ARGV` against a scripted gateway; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("GPTOSS_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def run_cli(
        gateway: ScriptedGateway,
        *argv: str,
        stdin: io.StringIO | None = None,
        api_key: str | None = API_KEY,
    ) -> tuple[int, str, str]:
        code = main(
            list(argv), client_factory=factory(gateway, api_key=api_key), stdin=stdin or Terminal()
        )
        out, err = capsys.readouterr()
        return code, out, err

    return run_cli


def test_ask_prints_the_streamed_answer_and_a_thinking_summary(run: Run) -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    code, out, err = run(gateway, "ask", "Say", "hello")
    assert code == 0
    assert out == "Hello there!\n"
    assert "thought for 5 tokens" in err
    assert gateway.body()["messages"] == [{"role": "user", "content": "Say hello"}]


def test_ask_show_reasoning_writes_the_thinking_to_stderr(run: Run) -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    code, out, err = run(gateway, "ask", "--show-reasoning", "--effort", "high", "hi")
    assert (code, out) == (0, "Hello there!\n")
    assert "Greet back." in err
    assert "thought for" not in err
    assert gateway.body()["reasoning_effort"] == "high"


def test_ask_reads_piped_stdin_after_the_question(run: Run) -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    code, _, _ = run(gateway, "ask", "Summarize:", stdin=io.StringIO("line one\nline two\n"))
    assert code == 0
    assert gateway.body()["messages"][-1]["content"] == "Summarize:\n\nline one\nline two"


def test_ask_with_only_stdin_and_a_system_prompt(run: Run) -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    code, _, _ = run(gateway, "ask", "--system", "Be terse.", stdin=io.StringIO("What is 2+2?"))
    assert code == 0
    assert gateway.body()["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 2+2?"},
    ]


def test_ask_without_a_question_is_a_usage_error(run: Run) -> None:
    code, out, err = run(ScriptedGateway(), "ask")
    assert (code, out) == (2, "")
    assert "nothing to ask" in err


def test_ask_json_prints_one_machine_readable_document(run: Run) -> None:
    gateway = ScriptedGateway(json_reply(chat_completion("Four.", reasoning="2+2=4")))
    code, out, err = run(gateway, "ask", "--json", "--max-tokens", "50", "2+2?")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["content"] == "Four."
    assert document["reasoning"] == "2+2=4"
    assert document["finish_reason"] == "stop"
    assert document["usage"]["total_tokens"] == 19
    assert document["request_id"] == "req-200"
    assert "stream" not in gateway.body()
    assert gateway.body()["max_tokens"] == 50


def test_ask_json_error_is_json_on_stdout_and_explained_on_stderr(run: Run) -> None:
    gateway = ScriptedGateway(error_reply(404, "model 'nope' not found", code="model_not_found"))
    code, out, err = run(gateway, "--model", "nope", "ask", "--json", "hi")
    assert code == 1
    assert json.loads(out)["error"] == {
        "type": "NotFoundError",
        "message": "model 'nope' not found",
        "request_id": "req-404",
        "status": 404,
        "code": "model_not_found",
        "retry_after": None,
    }
    assert "gptoss models" in err


@pytest.mark.parametrize(
    ("reply", "api_key", "expected"),
    [
        (
            error_reply(401, "Invalid API key.", code="invalid_api_key"),
            "sk-wrong",
            ["rejected the API key", "GPTOSS_API_KEY", "req-401"],
        ),
        (
            error_reply(401, "Missing API key.", code="invalid_api_key"),
            None,
            ["no API key was sent", "set GPTOSS_API_KEY"],
        ),
        (
            error_reply(403, "key may not use gpt-oss:120b", code="model_not_allowed"),
            API_KEY,
            ["not allowed", "gptoss models"],
        ),
        (
            error_reply(429, "Rate limit exceeded: 10 per 1 minute", **{"Retry-After": "75"}),
            API_KEY,
            ["rate limited", "10 per 1 minute", "try again in 75 s"],
        ),
        (
            error_reply(503, "gpt-oss:20b is still downloading (41%)", **{"Retry-After": "90"}),
            API_KEY,
            ["still downloading", "try again in 90 s", "docker compose logs -f ollama"],
        ),
        (
            error_reply(503, "Ollama is unreachable", **{"Retry-After": "120"}),
            API_KEY,
            ["unavailable or busy", "gptoss health"],
        ),
        (
            error_reply(504, "Ollama did not answer within 60 s", code="upstream_timeout"),
            API_KEY,
            ["took too long", "--effort low"],
        ),
        (
            error_reply(413, "body too large", code="request_too_large"),
            API_KEY,
            ["larger than the gateway accepts", "/reset"],
        ),
        (
            error_reply(502, "Ollama failed", code="upstream_error"),
            API_KEY,
            ["server failed", "request id"],
        ),
        (
            error_reply(400, "Invalid value for 'temperature'"),
            API_KEY,
            ["refused the request", "temperature"],
        ),
        (httpx.ConnectError("refused"), API_KEY, ["cannot reach the gateway", "--base-url"]),
        (httpx.ReadTimeout("slow"), API_KEY, ["no answer in time", "--timeout"]),
    ],
)
def test_errors_say_what_happened_and_what_to_do(
    run: Run, reply: httpx.Response | Exception, api_key: str | None, expected: list[str]
) -> None:
    gateway = ScriptedGateway(*[reply] * 3)
    code, out, err = run(gateway, "ask", "hi", api_key=api_key)
    assert (code, out) == (1, "")
    flat = " ".join(err.split())
    for text in expected:
        assert text in flat
    assert "Traceback" not in err


def test_an_error_in_the_middle_of_an_answer_is_reported(run: Run) -> None:
    body = sse({"choices": [{"delta": {"content": "Half"}}]}, {"error": {"message": "boom"}})
    code, out, err = run(ScriptedGateway(stream_reply(body)), "ask", "hi")
    assert code == 1
    assert out.startswith("Half")
    assert "cut off by a server error (boom)" in " ".join(err.split())


def test_global_options_work_before_and_after_the_command(run: Run) -> None:
    gateway = ScriptedGateway(*[json_reply(chat_completion())] * 2)
    assert run(gateway, "--model", "m1", "ask", "--json", "x")[0] == 0
    assert run(gateway, "ask", "--model", "m2", "--json", "x")[0] == 0
    assert [json.loads(r.content)["model"] for r in gateway.requests] == ["m1", "m2"]


def test_a_base_url_without_scheme_is_a_usage_error(run: Run) -> None:
    code, _, err = run(ScriptedGateway(), "--base-url", "box:8080", "models")
    assert code == 2
    assert "http:// or https://" in err


def test_a_bad_timeout_is_refused_by_the_parser(run: Run) -> None:
    with pytest.raises(SystemExit) as caught:
        run(ScriptedGateway(), "--timeout", "0", "models")
    assert caught.value.code == 2


def test_models_as_table_and_as_json(run: Run) -> None:
    gateway = ScriptedGateway(json_reply(MODELS), json_reply(MODELS))
    code, out, _ = run(gateway, "models")
    assert code == 0
    assert "gpt-oss:20b" in out
    assert "library" in out
    code, out, _ = run(gateway, "models", "--json")
    assert json.loads(out) == [{"id": "gpt-oss:20b", "owned_by": "library", "created": 0}]


def test_health_all_green_exits_zero_with_one_line_per_component(run: Run) -> None:
    one_token = chat_completion("", reasoning="O", finish_reason="length")
    gateway = ScriptedGateway(
        json_reply(NGINX_OK), json_reply(READY), json_reply(MODELS), json_reply(one_token)
    )
    code, out, _ = run(gateway, "health")
    assert code == 0
    lines = out.splitlines()
    names = [line[2:13].strip() for line in lines]
    assert names == [
        "nginx",
        "gateway",
        "api key",
        "ready",
        "ollama",
        "model",
        "redis",
        "your model",
        "generation",
    ]
    assert all(line.startswith("✓") for line in lines)
    assert "gpt-oss:20b is present." in out
    assert gateway.body()["max_tokens"] == 1


def test_health_reports_each_failure_with_a_hint_and_exits_one(run: Run) -> None:
    not_ready = {
        "status": "not_ready",
        "components": {
            "ollama": {"status": "down", "detail": "Ollama is not reachable (ConnectError)."},
            "model": {"status": "unknown", "detail": "gpt-oss:20b: cannot tell."},
        },
    }
    gateway = ScriptedGateway(
        error_reply(404, "No such route."),  # no nginx in front: the gateway answers itself
        json_reply(not_ready, 503),
        error_reply(401, "Invalid API key.", code="invalid_api_key"),
    )
    code, out, _ = run(gateway, "health", api_key="sk-wrong")
    assert code == 1
    flat = " ".join(out.split())
    assert "- nginx no nginx in front" in flat
    assert "✗ api key the gateway rejected the API key" in flat
    assert "✗ ready the gateway is not ready → the lines below say which part is down" in flat
    assert "✗ ollama Ollama is not reachable (ConnectError)." in flat
    assert "✗ model gpt-oss:20b: cannot tell." in flat
    assert "- your model not checked" in flat
    assert "- generation not checked" in flat


def test_health_when_the_gateway_is_unreachable(run: Run) -> None:
    gateway = ScriptedGateway(*[httpx.ConnectError("refused")] * 3)
    code, out, _ = run(gateway, "--base-url", "http://127.0.0.1:9", "health")
    assert code == 1
    assert out.splitlines()[0].startswith("✗ nginx")
    assert "cannot reach the gateway at http://127.0.0.1:9" in " ".join(out.split())
    assert out.count("not checked") == 5


def test_health_when_the_model_is_missing(run: Run) -> None:
    gateway = ScriptedGateway(
        json_reply(NGINX_OK), json_reply(READY), json_reply({"data": [{"id": "other"}]})
    )
    code, out, _ = run(gateway, "health")
    assert code == 1
    flat = " ".join(out.split())
    assert "✗ your model gpt-oss:20b is not among the models of this key (other)" in flat
    assert "- generation not checked" in flat
