"""LangChain's ``ChatOpenAI`` (on ``/v1``) and ``ChatOllama`` (on ``/api``, with the key header).

Pinned in requirements-dev.txt: ``invoke``, ``stream`` and ``bind_tools`` on ChatOpenAI, and
``invoke`` and ``bind_tools`` on ChatOllama through the gateway's native Ollama routes.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from fake_ollama.testing import FakeOllamaProcess


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return "sunny"


def chat_openai(url: str, key: str) -> ChatOpenAI:
    """ChatOpenAI pointed at the gateway under the alias OpenAI-style tools use."""
    return ChatOpenAI(
        model="gpt-oss-20b", base_url=f"{url}/v1", api_key=SecretStr(key), max_retries=0
    )


def chat_ollama(url: str, key: str) -> ChatOllama:
    """ChatOllama pointed at the gateway's native routes, sending the bearer key."""
    return ChatOllama(
        model="gpt-oss:20b",
        base_url=url,
        client_kwargs={"headers": {"Authorization": f"Bearer {key}"}},
    )


def test_chat_openai_invoke_and_stream(gateway_url: str, gateway_api_key: str) -> None:
    llm = chat_openai(gateway_url, gateway_api_key)
    answer = llm.invoke("Say hello")
    assert isinstance(answer, AIMessage)
    assert str(answer.content).startswith("Fake answer to: Say hello")

    chunks = list(llm.stream("Say hello"))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert "".join(str(chunk.content) for chunk in chunks) == answer.content


def test_chat_openai_bind_tools_gets_a_tool_call(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    answer = chat_openai(gateway_url, gateway_api_key).bind_tools([get_weather]).invoke("Paris?")
    assert isinstance(answer, AIMessage)
    (call,) = answer.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "fake-city"})


def test_chat_ollama_through_the_native_api_with_the_key(
    gateway_url: str, gateway_api_key: str, fake_ollama: FakeOllamaProcess
) -> None:
    llm = chat_ollama(gateway_url, gateway_api_key)
    answer = llm.invoke("Say hello")
    assert str(answer.content).startswith("Fake answer to: Say hello")
    called = llm.bind_tools([get_weather]).invoke("Paris?")
    assert isinstance(called, AIMessage)
    assert [call["name"] for call in called.tool_calls] == ["get_weather"]
    assert fake_ollama.requests(path="/api/chat")[-1]["headers"].get("authorization") is None
