"""The library against a real gateway in front of the fake Ollama: results, streams, every error."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import gptoss
from fake_ollama.testing import FakeOllamaProcess
from gptoss import AsyncClient, Client, ContentDelta, Done, ReasoningDelta, ToolCall, Usage
from tests.support.servers import free_port
from tests.support.waiting import wait_until

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def sleeps() -> list[float]:
    """Retry waits the client asked for (recorded, not slept)."""
    return []


@pytest.fixture
def client(gateway_url: str, gateway_api_key: str, sleeps: list[float]) -> Iterator[Client]:
    with Client(gateway_url, gateway_api_key, sleep=sleeps.append, timeout=30) as c:
        yield c


def test_chat_returns_content_reasoning_usage_and_the_request_id(client: Client) -> None:
    result = client.chat("Why is the sky blue?", reasoning_effort="low")
    assert result.content.startswith("Fake answer to: Why is the sky blue?")
    assert "(low)" in result.reasoning
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.completion_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.request_id


def test_base_url_with_v1_works_like_without(gateway_url: str, gateway_api_key: str) -> None:
    with Client(f"{gateway_url}/v1", gateway_api_key) as c:
        assert "gpt-oss:20b" in [model.id for model in c.models()]
        assert c.health().ready


def test_stream_yields_reasoning_then_content_then_usage_and_done(client: Client) -> None:
    events = list(client.stream_chat("Count to three", reasoning_effort="high"))
    kinds = [type(event) for event in events]
    assert kinds[0] is ReasoningDelta
    assert kinds.index(ContentDelta) > kinds.index(ReasoningDelta)
    assert kinds[-2:] == [Usage, Done]
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert content.startswith("Fake answer to: Count to three")
    done = events[-1]
    assert isinstance(done, Done)
    assert (done.finish_reason, bool(done.request_id)) == ("stop", True)


def test_tool_calls_arrive_complete_streamed_or_not(client: Client) -> None:
    result = client.chat("Weather in Paris?", tools=[WEATHER_TOOL])
    assert result.finish_reason == "tool_calls"
    assert [call.name for call in result.tool_calls] == ["get_weather"]
    assert "city" in result.tool_calls[0].parse_arguments()
    streamed = list(client.stream_chat("Weather in Paris?", tools=[WEATHER_TOOL]))
    calls = [event for event in streamed if isinstance(event, ToolCall)]
    assert [call.name for call in calls] == ["get_weather"]
    assert calls[0].id.startswith("call_")
    assert streamed[-1] == Done("tool_calls", streamed[-1].request_id)  # type: ignore[union-attr]


def test_structured_output_and_the_other_endpoints(
    client: Client, fake_ollama: FakeOllamaProcess
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
    client.chat("A city?", response_format=response_format)
    sent = fake_ollama.requests(path="/api/chat")[-1]["body"]
    assert sent["format"] == schema
    completion = client.complete("Once upon a time", max_tokens=64)
    assert (bool(completion.text), completion.finish_reason) == (True, "stop")
    fake_ollama.call("POST", "/api/pull", {"model": "nomic-embed-text", "stream": False})
    vectors = client.embed(["a", "b"], model="nomic-embed-text").vectors
    assert len(vectors) == 2
    assert len(vectors[0]) > 0


def test_health_reports_ready_with_components(client: Client) -> None:
    report = client.health()
    assert report.ready
    assert {c.name for c in report.components} >= {"ollama", "model"}
    assert all(c.ok for c in report.components)


def test_unknown_model_is_not_found(client: Client) -> None:
    with pytest.raises(gptoss.NotFoundError) as caught:
        client.chat("hi", model="no-such-model")
    assert caught.value.code == "model_not_found"
    assert caught.value.request_id


def test_wrong_key_is_an_authentication_error(gateway_url: str) -> None:
    wrong = Client(gateway_url, "sk-wrong-key-0123456789", max_retries=0)
    with wrong as c, pytest.raises(gptoss.AuthenticationError) as caught:
        c.models()
    assert caught.value.status_code == 401
    assert caught.value.message


def test_a_busy_ollama_is_retried_as_retry_after_says_then_raised(
    client: Client, sleeps: list[float], fake_ollama: FakeOllamaProcess
) -> None:
    with pytest.raises(gptoss.ServiceUnavailableError) as caught:
        client.chat("hi", model="fault-busy")
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert retry_after >= 1
    assert len(sleeps) == 2
    assert all(retry_after <= slept <= retry_after * 1.1 for slept in sleeps)
    assert len(fake_ollama.requests(path="/api/chat")) == 3


def test_rate_limit_carries_retry_after(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    url = gateway_factory(default_rpm=1)
    with Client(url, gateway_api_key, max_retries=0) as c:
        c.models()
        with pytest.raises(gptoss.RateLimitError) as caught:
            c.models()
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0


def test_ollama_failing_is_a_bad_gateway_error(client: Client) -> None:
    with pytest.raises(gptoss.BadGatewayError) as caught:
        client.chat("hi", model="fault-http-500")
    assert caught.value.code == "upstream_error"


def test_an_error_after_the_stream_began_raises_stream_error_without_resending(
    client: Client, sleeps: list[float], fake_ollama: FakeOllamaProcess
) -> None:
    received: list[object] = []
    with pytest.raises(gptoss.APIStreamError) as caught:
        received.extend(client.stream_chat("hi", model="fault-midstream-error"))
    assert received, "some events arrived before the error"
    assert caught.value.request_id
    assert sleeps == []
    assert len(fake_ollama.requests(path="/api/chat")) == 1


def test_ollama_too_slow_for_the_gateway_is_a_gateway_timeout(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    url = gateway_factory(first_byte_timeout=0.3, max_generation_seconds=0.3)
    with Client(url, gateway_api_key) as c, pytest.raises(gptoss.GatewayTimeoutError):
        c.chat("hi", model="fault-hang")


def test_client_timeout_raises_timeout_error_and_is_not_resent(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    waits: list[float] = []  # every retry of the client waits first: none may be recorded
    impatient = Client(gateway_url, gateway_api_key, timeout=0.3, sleep=waits.append)
    with impatient as c, pytest.raises(gptoss.APITimeoutError):
        c.chat("hi", model="fault-hang")
    assert waits == []
    # The gateway may pass the request on after the client gave up: wait for it, then count.
    wait_until(lambda: fake_ollama.requests(path="/api/chat"), "the request reached Ollama")
    assert len(fake_ollama.requests(path="/api/chat")) == 1


def test_too_large_a_body_is_request_too_large(
    gateway_factory: Callable[..., str], gateway_api_key: str
) -> None:
    url = gateway_factory(max_body_bytes=2048)
    with Client(url, gateway_api_key) as c, pytest.raises(gptoss.RequestTooLargeError):
        c.chat("x" * 5000)


def test_nothing_listening_is_a_connection_error_after_retries() -> None:
    waits: list[float] = []
    nowhere = Client(f"http://127.0.0.1:{free_port()}", "sk", sleep=waits.append)
    with nowhere as c, pytest.raises(gptoss.APIConnectionError):
        c.models()
    assert len(waits) == 2


async def test_async_client_streams_from_the_gateway(
    gateway_url: str, gateway_api_key: str
) -> None:
    async with AsyncClient(gateway_url, gateway_api_key) as c:
        events = [event async for event in c.stream_chat("Hello")]
        result = await c.chat("Hello")
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert content == result.content
