"""The floor ``make bench`` compares the gateway with: a lean OpenAI-to-Ollama proxy, nothing else.

``POST /v1/chat/completions`` translated to Ollama's ``POST /api/chat`` and back, with FastAPI,
one shared ``httpx.AsyncClient`` and orjson, served by one uvicorn worker (uvloop, httptools, no
access log). No keys, limits, metrics, logs, validation or timeouts beyond httpx's: what any
Python proxy of this shape costs, so that ``gateway ÷ reference`` says what our features cost
and stays comparable from one machine to the next.

* non-streaming: one ``"stream": false`` call upstream, one ``chat.completion`` back;
* streaming: Ollama's NDJSON lines relayed as ``chat.completion.chunk`` server-sent events.

    .venv/bin/python bench/reference_proxy.py --port 8001 --ollama-url http://127.0.0.1:11434
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse


def _completion(model: str, answer: dict[str, Any]) -> dict[str, Any]:
    message = answer.get("message") or {}
    prompt = int(answer.get("prompt_eval_count") or 0)
    completion = int(answer.get("eval_count") or 0)
    reply: dict[str, Any] = {"role": "assistant", "content": message.get("content", "")}
    if message.get("thinking"):
        reply["reasoning"] = message["thinking"]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _chunk(ident: str, model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    record = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(record) + b"\n\n"


def create_app(ollama_url: str) -> FastAPI:
    """The proxy in front of the Ollama at ``ollama_url``."""
    client = httpx.AsyncClient(base_url=ollama_url, timeout=60)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        model = body["model"]
        upstream = {
            "model": model,
            "messages": body["messages"],
            "stream": bool(body.get("stream")),
        }
        if not upstream["stream"]:
            answer = await client.post("/api/chat", content=orjson.dumps(upstream))
            return Response(
                orjson.dumps(_completion(model, answer.json())), media_type="application/json"
            )

        async def events() -> AsyncIterator[bytes]:
            ident = f"chatcmpl-{uuid.uuid4().hex}"
            yield _chunk(ident, model, {"role": "assistant", "content": ""}, None)
            async with client.stream("POST", "/api/chat", content=orjson.dumps(upstream)) as answer:
                async for line in answer.aiter_lines():
                    record = orjson.loads(line)
                    message = record.get("message") or {}
                    if message.get("thinking"):
                        yield _chunk(ident, model, {"reasoning": message["thinking"]}, None)
                    if message.get("content"):
                        yield _chunk(ident, model, {"content": message["content"]}, None)
                    if record.get("done"):
                        yield _chunk(ident, model, {}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main() -> None:
    """Serve the proxy on 127.0.0.1 with one uvicorn worker until stopped."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ollama-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.ollama_url),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
