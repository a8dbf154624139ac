"""OllamaClient.generate reads Ollama's NDJSON however the network cuts it into pieces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.errors import UpstreamError
from gateway.settings import Settings
from gateway.upstream.client import OllamaClient

BODY = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
OBJECTS: list[dict[str, Any]] = [
    {"message": {"role": "assistant", "content": "Hel"}, "done": False},
    {"message": {"role": "assistant", "content": 'lo "\\n" {}'}, "done": False},
    {"message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 2},
]
NDJSON = b"".join(orjson.dumps(o) + b"\n" for o in OBJECTS)


def client_answering(pieces: list[bytes], seen: list[httpx.URL] | None = None) -> OllamaClient:
    """A client whose Ollama answers ``/api/chat`` with ``pieces``, one network read each."""

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.url)
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=body())

    settings = Settings(ollama_url="http://ollama.test:11434/base")
    return OllamaClient(settings, transport=httpx.MockTransport(handler))


async def objects_from(client: OllamaClient) -> list[dict[str, Any]]:
    try:
        return [chunk async for chunk in client.generate("/api/chat", BODY)]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([NDJSON], id="all-in-one-read"),
        pytest.param([NDJSON[i : i + 1] for i in range(len(NDJSON))], id="byte-by-byte"),
        pytest.param([NDJSON[:30], NDJSON[30:95], NDJSON[95:]], id="cut-mid-object"),
        pytest.param([NDJSON.replace(b"\n", b"\r\n")], id="crlf"),
        pytest.param([b"\n", NDJSON.replace(b"\n", b"\n\n", 1)], id="blank-lines"),
        pytest.param([NDJSON.rstrip(b"\n")], id="no-newline-after-the-last"),
    ],
)
async def test_every_object_is_read_once_whole(pieces: list[bytes]) -> None:
    assert await objects_from(client_answering(pieces)) == OBJECTS


async def test_a_stream_ending_without_its_final_object_is_an_upstream_error() -> None:
    first_two = NDJSON[: NDJSON.index(b"\n", NDJSON.index(b"\n") + 1) + 1]
    with pytest.raises(UpstreamError, match="without its final chunk"):
        await objects_from(client_answering([first_two]))


async def test_requests_keep_the_path_of_the_ollama_url() -> None:
    seen: list[httpx.URL] = []
    client = client_answering([NDJSON, NDJSON], seen)
    try:
        for _ in range(2):
            [chunk async for chunk in client.generate("/api/chat", BODY)]
    finally:
        await client.aclose()
    assert [str(url) for url in seen] == ["http://ollama.test:11434/base/api/chat"] * 2
