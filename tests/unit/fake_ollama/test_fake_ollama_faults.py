"""Fault injection (header or ``fault-*`` model), pacing knobs, queueing and cancellations."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from fake_ollama.faults import QUEUE_FULL
from fake_ollama.testing import FakeOllamaProcess
from tests.support.waiting import PATIENCE, leaving_request, wait_until
from tests.unit.fake_ollama.fake_ollama_support import WEATHER_TOOL, chat, ndjson, post

CHAT = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
HOLD = 0.5


def _wait_cancelled(fake: FakeOllamaProcess) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = wait_until(fake.cancelled, "a cancellation recorded")
    return entries


def test_busy_is_a_503_with_the_queue_full_message(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, headers={"X-Fake-Fault": "busy"})
    assert response.status_code == 503
    assert response.json() == {
        "error": "server busy, please try again.  maximum pending requests exceeded"
    }
    assert QUEUE_FULL.count("  ") == 1


@pytest.mark.parametrize("stream", [True, False])
def test_http_500_by_model_name_before_any_byte(
    fake_ollama: FakeOllamaProcess, stream: bool
) -> None:
    response = chat(fake_ollama, model="fault-http-500", stream=stream)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "llama runner process has terminated" in response.json()["error"]


def test_fault_models_work_but_are_never_listed(fake_ollama: FakeOllamaProcess) -> None:
    assert chat(fake_ollama, model="fault-busy").status_code == 503
    names = [
        m["name"] for m in httpx.get(fake_ollama.url + "/api/tags", timeout=5).json()["models"]
    ]
    assert not [n for n in names if n.startswith("fault-")]


def test_unknown_fault_is_a_400_listing_the_known_ones(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, headers={"X-Fake-Fault": "explode"})
    assert response.status_code == 400
    assert "midstream-error" in response.json()["error"]


def test_legacy_error_is_status_200_with_one_error_line(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, headers={"X-Fake-Fault": "legacy-error"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    (line,) = ndjson(response)
    assert set(line) == {"error"}
    assert (
        chat(fake_ollama, headers={"X-Fake-Fault": "legacy-error"}, stream=False).status_code == 500
    )


def test_midstream_error_line_after_some_chunks_and_no_done(fake_ollama: FakeOllamaProcess) -> None:
    response = chat(fake_ollama, model="fault-midstream-error")
    assert response.status_code == 200
    lines = ndjson(response)
    assert len(lines) == 3 + 1
    assert all(line.get("done") is False for line in lines[:3])
    assert set(lines[-1]) == {"error"}
    whole = chat(fake_ollama, model="fault-midstream-error", stream=False)
    assert whole.status_code == 500
    assert "error" in whole.json()


def test_malformed_inserts_one_non_json_line_and_still_finishes(
    fake_ollama: FakeOllamaProcess,
) -> None:
    raw = chat(fake_ollama, headers={"X-Fake-Fault": "malformed"}).content.split(b"\n")[:-1]
    broken = []
    for index, line in enumerate(raw):
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            broken.append(index)
    assert broken == [3]
    assert orjson.loads(raw[-1])["done"] is True
    whole = chat(fake_ollama, headers={"X-Fake-Fault": "malformed"}, stream=False)
    assert whole.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(whole.content)


def _read_until_dropped(fake: FakeOllamaProcess, stream: bool) -> bytes:
    """Body bytes received before the connection broke (fails if it did not break)."""
    body = {
        "model": "fault-drop",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    received = b""
    with httpx.stream("POST", fake.url + "/api/chat", json=body, timeout=5) as response:
        assert response.status_code == 200
        try:
            for chunk in response.iter_bytes():
                received += chunk
        except httpx.RemoteProtocolError:
            return received
    pytest.fail("the connection was not dropped")


def test_drop_closes_a_stream_after_some_chunks(fake_ollama: FakeOllamaProcess) -> None:
    received = _read_until_dropped(fake_ollama, stream=True)
    assert received.count(b"\n") == 3
    assert b'"done":true' not in received


def test_drop_cuts_a_whole_body_short(fake_ollama: FakeOllamaProcess) -> None:
    received = _read_until_dropped(fake_ollama, stream=False)
    assert received
    assert not received.endswith(b"}")


def test_hang_sends_nothing_and_records_the_cancellation(fake_ollama: FakeOllamaProcess) -> None:
    headers = {"X-Fake-Fault": "hang", "X-Request-ID": "hang-1"}
    with leaving_request(fake_ollama.url + "/api/chat", CHAT, headers) as connection:
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the request received")
        connection.settimeout(0.2)
        with pytest.raises(TimeoutError):
            connection.recv(1)  # nothing was sent, not even the headers
    (entry,) = _wait_cancelled(fake_ollama)
    assert entry["request_id"] == "hang-1"
    assert entry["stage"] == "hang"
    assert entry["path"] == "/api/chat"


def test_hang_is_bounded_by_hang_seconds(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(hang_seconds=0.2)
    response = chat(fake_ollama, model="fault-hang")
    assert response.status_code == 500
    assert "hang" in response.json()["error"]


def test_closing_a_slow_stream_is_detected_promptly_with_tokens_so_far(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # 1200 tokens 50 ms apart (a minute): the disconnect shows up at the next token, so the count
    # stops far below the end. The bound leaves a stalled machine 20 s, not a fast one 100 ms.
    fake_ollama.configure(thinking_tokens=0, slow_token_delay=0.05)
    body = {"model": "fault-slow", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"X-Request-ID": "slow-1"}
    with httpx.stream(
        "POST", fake_ollama.url + "/api/chat", json=body, headers=headers, timeout=PATIENCE
    ) as response:
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
    (entry,) = _wait_cancelled(fake_ollama)
    assert entry["model"] == "fault-slow"
    assert entry["request_id"] == "slow-1"
    assert entry["stage"] == "generating"
    assert 5 <= entry["tokens_emitted"] < 5 + 400
    (recorded,) = fake_ollama.requests(path="/api/chat")
    assert recorded["cancelled"] is True


def test_non_streaming_request_cancelled_while_waiting(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(first_token_delay=600.0)
    with leaving_request(fake_ollama.url + "/api/chat", {**CHAT, "stream": False}):
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the request received")
    (entry,) = _wait_cancelled(fake_ollama)
    assert (entry["stage"], entry["tokens_emitted"]) == ("loading", 0)


def test_delays_show_in_load_and_eval_durations(fake_ollama: FakeOllamaProcess) -> None:
    headers = {"X-Fake-Token-Delay": "0.005", "X-Fake-First-Token-Delay": "0.1"}
    body = chat(fake_ollama, headers=headers, stream=False).json()
    # measured by the fake's clock: allow the event loop's timer granularity (a few ms early)
    assert body["load_duration"] >= 90_000_000
    assert body["eval_duration"] >= 0.9 * 19 * 5_000_000


def test_num_parallel_one_makes_requests_queue(fake_ollama: FakeOllamaProcess) -> None:
    fake_ollama.configure(num_parallel=1, thinking_tokens=0, content_tokens=3)
    phases = ("load_duration", "prompt_eval_duration", "eval_duration")

    def queued(reply: dict[str, Any]) -> int:
        """Nanoseconds of ``total_duration`` outside the phases: the wait for a slot."""
        return int(reply["total_duration"] - sum(reply[p] for p in phases))

    replies: list[dict[str, Any]] = []
    second = threading.Thread(
        target=lambda: replies.append(chat(fake_ollama, stream=False, timeout=PATIENCE).json())
    )
    # The first request holds the only slot (its model "loads" for ten minutes) until it leaves.
    holder = {**CHAT, "stream": False}
    with leaving_request(
        fake_ollama.url + "/api/chat", holder, {"X-Fake-First-Token-Delay": "600"}
    ):
        wait_until(lambda: fake_ollama.requests("/api/chat"), "the first request received")
        second.start()
        wait_until(lambda: len(fake_ollama.requests("/api/chat")) == 2, "the second one received")
        time.sleep(HOLD)  # the second waits at least this long: the slot is still held
    second.join(PATIENCE)
    (entry,) = _wait_cancelled(fake_ollama)
    assert (entry["stage"], entry["tokens_emitted"]) == ("loading", 0)
    alone = chat(fake_ollama, stream=False).json()
    assert queued(replies[0]) >= HOLD * 1e9
    assert queued(alone) < queued(replies[0]), "a request alone waits for no slot"


def test_faults_also_apply_to_embeddings(fake_ollama: FakeOllamaProcess) -> None:
    response = post(fake_ollama, "/api/embed", {"model": "fault-busy", "input": "x"})
    assert response.status_code == 503


TOOL_CHAT = {"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL]}
PARSE_ERROR = re.compile(
    r"^error parsing tool call: raw='\{.*', err=unexpected end of JSON input$", re.DOTALL
)


def test_tool_parse_error_replaces_the_done_line_like_ollama_0_32_15(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # harmony/harmonyparser.go (HarmonyMessageHandler.Add) parses the call once the runner is
    # done; server/routes.go (ChatHandler) then sends the error instead of the done chunk.
    response = chat(fake_ollama, headers={"X-Fake-Fault": "tool-parse-error"}, **TOOL_CHAT)
    # (gpt-oss: 8 reasoning chunks, then the call would ride on the done chunk)
    assert response.status_code == 200
    lines = ndjson(response)
    assert [line.get("done") for line in lines[:-1]] == [False] * 8  # the reasoning went out
    assert all(line["message"]["thinking"] for line in lines[:-1])
    assert set(lines[-1]) == {"error"}
    error = lines[-1]["error"]
    assert PARSE_ERROR.match(error), error
    assert error.startswith('error parsing tool call: raw=\'{"city":')  # the planned call, cut


def test_tool_parse_error_before_any_chunk_or_whole_is_a_500(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # streamResponse (server/routes.go): nothing written yet, so the error gets its status.
    silent = chat(
        fake_ollama, model="fault-tool-parse-error", headers={"X-Fake-Tokens": "0,5"}, **TOOL_CHAT
    )
    assert silent.status_code == 500
    assert silent.headers["content-type"] == "application/json; charset=utf-8"
    assert PARSE_ERROR.match(silent.json()["error"])
    # writeChatResponse: stream false answers the error's 500.
    whole = chat(fake_ollama, model="fault-tool-parse-error", stream=False, **TOOL_CHAT)
    assert whole.status_code == 500
    assert PARSE_ERROR.match(whole.json()["error"])


@pytest.mark.parametrize("stream", [True, False])
def test_tool_parse_error_once_fails_a_body_once_then_answers_it(
    fake_ollama: FakeOllamaProcess, stream: bool
) -> None:
    first = chat(fake_ollama, model="fault-tool-parse-error-once", stream=stream, **TOOL_CHAT)
    other = chat(
        fake_ollama,
        model="fault-tool-parse-error-once",
        stream=stream,
        **{**TOOL_CHAT, "messages": [{"role": "user", "content": "other"}]},
    )
    again = chat(fake_ollama, model="fault-tool-parse-error-once", stream=stream, **TOOL_CHAT)
    failed = ndjson(first)[-1] if stream else first.json()
    assert PARSE_ERROR.match(failed["error"])
    assert "error" in (ndjson(other)[-1] if stream else other.json())  # another body: first sight
    done = ndjson(again)[-1] if stream else again.json()
    assert again.status_code == 200
    assert done["done"] is True
    assert done["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    fake_ollama.reset()  # forgets the bodies seen
    after_reset = chat(fake_ollama, model="fault-tool-parse-error-once", stream=stream, **TOOL_CHAT)
    assert "error" in (ndjson(after_reset)[-1] if stream else after_reset.json())


def test_num_predict_cutting_the_tool_call_is_the_same_error_without_a_fault(
    fake_ollama: FakeOllamaProcess,
) -> None:
    # gpt-oss: 8 reasoning tokens, then the call; num_predict 10 stops inside its arguments.
    cut = {**TOOL_CHAT, "options": {"num_predict": 10}}
    lines = ndjson(chat(fake_ollama, **cut))
    assert len(lines) == 8 + 1
    assert PARSE_ERROR.match(lines[-1]["error"])
    assert lines[-1]["error"].startswith('error parsing tool call: raw=\'{"city"')
    whole = chat(fake_ollama, stream=False, **cut)
    assert whole.status_code == 500
    assert whole.json() == lines[-1]
