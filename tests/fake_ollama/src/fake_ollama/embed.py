"""``POST /api/embed`` (current) and ``POST /api/embeddings`` (legacy): deterministic vectors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fake_ollama import validation as v
from fake_ollama.asgi import Exchange, HTTPError, typed
from fake_ollama.catalog import ModelSpec
from fake_ollama.delivery import deliver_whole, pre_stream_fault
from fake_ollama.faults import Fault
from fake_ollama.generation import embedding, words
from fake_ollama.state import State


async def _prepare(
    ex: Exchange, state: State, body: dict[str, Any], struct: str
) -> tuple[str, ModelSpec, Fault | None] | None:
    """Model, spec and fault; ``None`` when a pre-stream fault already answered."""
    model = ex.model = v.require_model(body, struct)
    spec = v.lookup(state, model, f'model "{model}" not found, try pulling it first')
    keep_alive = v.keep_alive_seconds(body, state.settings)
    fault = v.request_fault(ex, model, state)
    if await pre_stream_fault(ex, state, fault, False):
        return None
    if fault is Fault.SLOW:
        ex.watch_disconnect()
        ex.stage = "embedding"
        await asyncio.sleep(state.settings.slow_tokens * state.settings.slow_token_delay)
    state.store.touch_loaded(model, keep_alive)
    return model, spec, fault


# Ollama 0.32.15 embeds through llama-server; a model without a pooling head (gpt-oss) gets a
# runner started without --embeddings, whose refusal /api/embed passes on with its 501 status and
# /api/embeddings turns into a 500 (server/routes.go EmbedHandler / EmbeddingsHandler,
# llm/llama_server.go Embedding). The model is loaded first, and empty input never reaches it.
NO_EMBEDDINGS = "This server does not support embeddings. Start it with `--embeddings`"


def _refuse_without_embedding(spec: ModelSpec, fault: Fault | None, status: int) -> None:
    """A generation-only model cannot embed (fault models keep their injected behaviour)."""
    if fault is None and "embedding" not in spec.capabilities:
        raise HTTPError(status, NO_EMBEDDINGS)


def _dimension(state: State, spec: ModelSpec) -> int:
    return state.settings.embed_dim or spec.embedding_length


async def embed(ex: Exchange, state: State) -> None:
    """``POST /api/embed``: ``input`` is a string or a list of strings."""
    body = ex.json_object("EmbedRequest")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw if raw is not None else []
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise HTTPError(400, "invalid input type")
    dimensions = typed(body, "dimensions", (int,), "EmbedRequest", "int") or 0
    prepared = await _prepare(ex, state, body, "EmbedRequest")
    if prepared is None:
        return
    model, spec, fault = prepared
    inputs = [text for text in inputs if text]
    if not inputs:
        await deliver_whole(ex, {"model": model, "embeddings": []}, fault)
        return
    _refuse_without_embedding(spec, fault, 501)
    loaded = time.perf_counter_ns()
    dim = _dimension(state, spec)
    if 0 < dimensions < dim:
        vectors = [_renormalised(embedding(text, dim)[:dimensions]) for text in inputs]
    else:
        vectors = [embedding(text, dim) for text in inputs]
    result = {
        "model": model,
        "embeddings": vectors,
        "total_duration": time.perf_counter_ns() - ex.started_ns,
        "load_duration": max(loaded - ex.started_ns, 1),
        "prompt_eval_count": sum(max(words(text), 1) for text in inputs),
    }
    await deliver_whole(ex, result, fault)


def _renormalised(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


async def embeddings(ex: Exchange, state: State) -> None:
    """``POST /api/embeddings`` (legacy): one ``prompt``, ``{"embedding": [...]}``, no metrics."""
    body = ex.json_object("EmbeddingRequest")
    prompt = typed(body, "prompt", (str,), "EmbeddingRequest", "string") or ""
    prepared = await _prepare(ex, state, body, "EmbeddingRequest")
    if prepared is None:
        return
    _, spec, fault = prepared
    if prompt:
        _refuse_without_embedding(spec, fault, 500)
    vector = embedding(prompt, _dimension(state, spec)) if prompt else []
    await deliver_whole(ex, {"embedding": vector}, fault)
