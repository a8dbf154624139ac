"""The OpenAI Agents SDK (pinned in requirements-dev.txt) runs a tool round trip on each API.

One agent on a chat-completions model and one on a Responses model: the fake model calls the
agent's function tool, the SDK runs it and sends the result back, and the final answer uses it.
"""

from __future__ import annotations

import pytest
from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from fake_ollama.testing import FakeOllamaProcess


@pytest.fixture(autouse=True)
def no_tracing() -> None:
    """The SDK would upload traces to OpenAI; nothing may leave the machine."""
    set_tracing_disabled(True)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_agent_calls_its_tool_and_answers_with_the_result(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess, api: str
) -> None:
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        cities.append(city)
        return "sunny"

    client = AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=gateway_api_key, max_retries=0)
    model: Model = (
        OpenAIChatCompletionsModel(model="gpt-oss-20b", openai_client=client)
        if api == "chat"
        else OpenAIResponsesModel(model="gpt-oss-20b", openai_client=client)
    )
    agent = Agent(name="weather", instructions="Use tools.", model=model, tools=[get_weather])

    result = await Runner.run(agent, "What is the weather in Paris? Use get_weather.")

    assert cities == ["fake-city"]
    assert str(result.final_output).startswith("Fake answer using get_weather result: sunny")
    assert len(fake_ollama.requests(path="/api/chat")) == 2
