"""The ledger and budgets through a real gateway: every metered request charged once from its
real usage (streams, dropped streams, the native API and errors included), budgets refused with
429 ``insufficient_quota``, and ``GET /v1/me`` showing a key its own data and nobody else's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from fake_ollama.testing import FakeOllamaProcess
from tests.support.servers import free_port
from tests.unit.gateway.access.ratelimit_support import bearer, key_record, write_keys
from tests.unit.gateway.access.usage.usage_support import HI, chat, me, secret, today, today_once

MODEL = "gpt-oss:20b"


@pytest.fixture
def start(gateway_factory: Callable[..., str], tmp_path: Path) -> Callable[..., str]:
    """Start a gateway whose keys are ``alice`` (with the given fields) and ``bob``."""

    def starter(**alice: object) -> str:
        path = tmp_path / "keys.json"
        write_keys(
            path,
            key_record(secret("alice"), "alice", **alice),
            key_record(secret("bob"), "bob"),
            key_record(secret("gone"), "gone", enabled=False),
            key_record(secret("old"), "old", expires=datetime.now(UTC) - timedelta(days=1)),
        )
        return gateway_factory(api_keys="", keys_file=path)

    return starter


def test_a_whole_answer_is_charged_its_real_usage(start: Callable[..., str]) -> None:
    url = start()
    reply = chat(url, "alice")
    assert reply.status_code == 200
    usage = reply.json()["usage"]
    day = today_once(url, "alice", 1)
    assert (day["prompt_tokens"], day["completion_tokens"], day["total_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["total_tokens"],
    )
    # In one piece: the completion tokens shared out by the reasoning's share of the text.
    assert 0 < day["reasoning_tokens"] < day["completion_tokens"]
    assert day["errors"] == 0
    assert list(day["by_model"]) == [MODEL]


def test_a_stream_is_charged_once_like_a_whole_answer(start: Callable[..., str]) -> None:
    url = start()
    streamed = chat(url, "alice", stream=True, stream_options={"include_usage": True})
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: {")]
    usage = orjson.loads(events[-1])["usage"]
    day = today_once(url, "alice", 1)
    assert day["total_tokens"] == usage["total_tokens"]
    assert day["reasoning_tokens"] == 8


def test_a_dropped_stream_is_charged_what_was_generated(
    start: Callable[..., str], fake_ollama: FakeOllamaProcess
) -> None:
    # 3000 tokens 20 ms apart: only the client's departure ends this stream early.
    fake_ollama.configure(content_tokens=3000, token_delay=0.02)
    url = start()
    body = {"model": "gpt-oss-20b", "messages": HI, "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{url}/v1/chat/completions", headers=bearer(secret("alice")), json=body
        ) as r,
    ):
        for count, _ in enumerate(r.iter_lines(), start=1):
            if count >= 20:
                break
    day = today_once(url, "alice", 1)
    assert 0 < day["completion_tokens"] < 3000, "the chunks relayed before the client left"
    assert day["errors"] == 0, "a client leaving is not an error"


def test_the_native_api_is_charged_without_reasoning(start: Callable[..., str]) -> None:
    url = start()
    body = {"model": MODEL, "messages": HI, "stream": False}
    reply = httpx.post(f"{url}/api/chat", headers=bearer(secret("alice")), json=body, timeout=30)
    assert reply.status_code == 200
    answer = reply.json()
    day = today_once(url, "alice", 1)
    assert day["prompt_tokens"] == answer["prompt_eval_count"]
    assert day["completion_tokens"] == answer["eval_count"]
    assert day["reasoning_tokens"] == 0


def test_failed_requests_count_as_errors_under_a_bounded_model_name(
    start: Callable[..., str],
) -> None:
    url = start()
    assert chat(url, "alice", model="no-such-model-42").status_code == 404
    day = today_once(url, "alice", 1)
    assert day["errors"] == 1
    assert list(day["by_model"]) == ["other"], "an unknown name never becomes a ledger field"
    assert me(url, "alice").status_code == 200
    assert today(url, "alice")["requests"] == 1, "/v1/me itself is not charged"


def test_a_request_budget_refuses_with_insufficient_quota(start: Callable[..., str]) -> None:
    url = start(daily_requests=2)
    assert [chat(url, "alice").status_code for _ in range(2)] == [200, 200]
    today_once(url, "alice", 2)
    refused = chat(url, "alice")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert "daily request budget: 2 of 2 requests" in error["message"]
    assert "resets at" in error["message"]
    assert "UTC" in error["message"]
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time())
    seconds_left = (midnight.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert 0 < int(refused.headers["retry-after"]) <= seconds_left + 2
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=secret("alice"), max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-oss-20b", messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.code == "insufficient_quota"
    assert httpx.get(f"{url}/v1/models", headers=bearer(secret("alice"))).status_code == 200
    statement = me(url, "alice").json()
    assert statement["remaining"]["daily_requests"] == 0
    assert statement["usage"]["day"]["requests"] == 2, "refused requests are not charged"
    assert chat(url, "bob").status_code == 200, "another key is not affected"
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'gateway_rate_limit_rejections_total{key="alice",limit="budget"}' in metrics


def test_a_token_budget_overshoots_by_at_most_one_answer(start: Callable[..., str]) -> None:
    url = start(monthly_tokens=1)
    first = chat(url, "alice")
    assert first.status_code == 200, "under the budget when it started"
    today_once(url, "alice", 1)
    refused = chat(url, "alice")
    assert refused.status_code == 429
    assert "monthly token budget" in refused.json()["error"]["message"]
    assert me(url, "alice").json()["remaining"]["monthly_tokens"] == 0


def test_me_shows_a_key_its_own_data_and_nothing_of_others(start: Callable[..., str]) -> None:
    url = start(daily_tokens=5000, rpm=30, tpm=0, max_concurrent=2, models=[MODEL])
    assert chat(url, "alice").status_code == 200
    assert chat(url, "bob").status_code == 200
    assert chat(url, "bob").status_code == 200
    today_once(url, "bob", 2)
    alice = me(url, "alice").json()
    assert (alice["object"], alice["id"], alice["name"]) == ("api_key", "key_alice", "alice")
    assert alice["limits"] == {
        "requests_per_minute": 30,
        "tokens_per_minute": 0,
        "max_concurrent": 2,
    }
    assert alice["budgets"] == {
        "daily_tokens": 5000,
        "monthly_tokens": None,
        "daily_requests": None,
        "monthly_requests": None,
    }
    assert alice["models"] == [MODEL]
    assert alice["expires_at"] is None
    used = alice["usage"]["day"]["total_tokens"]
    assert alice["usage"]["day"]["requests"] == 1
    assert alice["usage"]["month"]["requests"] == 1
    assert alice["remaining"]["daily_tokens"] == 5000 - used
    assert alice["usage"]["day"]["resets_at"] > alice["now"]
    text = me(url, "alice").text
    assert "bob" not in text
    assert "key_bob" not in text
    assert me(url, "bob").json()["usage"]["day"]["requests"] == 2


@pytest.mark.parametrize("name", ["gone", "old", "nobody"])
def test_revoked_expired_or_unknown_keys_get_nothing(start: Callable[..., str], name: str) -> None:
    url = start()
    assert chat(url, "alice").status_code == 200
    refused = me(url, name)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert "alice" not in refused.text
    assert "usage" not in refused.json()


def dead_redis_url() -> str:
    """A redis:// URL nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def test_without_its_store_requests_pass_and_me_says_why_it_cannot_answer(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record(secret("alice"), "alice", daily_tokens=1000))
    url = gateway_factory(
        api_keys="", keys_file=path, ratelimit_storage=dead_redis_url(), ratelimit_timeout=1
    )
    assert chat(url, "alice").status_code == 200, "fail open (the default): served, not charged"
    unavailable = me(url, "alice")
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["code"] == "usage_store_unavailable"
    assert unavailable.headers["retry-after"] == "1"


def test_a_budgeted_key_gets_503_when_the_gateway_fails_closed(
    gateway_factory: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    write_keys(path, key_record(secret("alice"), "alice", daily_tokens=1000))
    url = gateway_factory(
        api_keys="",
        keys_file=path,
        ratelimit_storage=dead_redis_url(),
        ratelimit_timeout=1,
        ratelimit_fail_open=False,
    )
    refused = chat(url, "alice")
    assert refused.status_code == 503
    error = refused.json()["error"]
    # One Redis holds both: the rate limits, checked first, say so.
    assert error["code"] == "rate_limit_store_unavailable"
    assert "GATEWAY_RATELIMIT_FAIL_OPEN=false" in error["message"]
    assert refused.headers["retry-after"] == "1"
