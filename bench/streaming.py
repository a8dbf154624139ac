"""Streaming chat under load: time to the first token and the rate at which chunks are relayed.

One keep-alive connection sends streamed chat requests one after another and reads each chunked
answer as it arrives. Two wire formats are understood, so the gateway and the fake Ollama are
measured with the same client:

* ``NDJSON`` - Ollama's ``POST /api/chat`` with ``"stream": true`` (one JSON object per line)
* ``SSE`` - the gateway's ``POST /v1/chat/completions`` with ``"stream": true`` (``data:`` events)

A *token* record is one whose ``thinking``/``content`` (Ollama) or ``reasoning``/``content`` delta
(OpenAI) is not empty: the opening ``role`` chunk of the gateway does not count as a first token.
Only records up to the first token are decoded; the rest are counted, which keeps the client cheap.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from latency import HOST, percentile


def _ndjson_token(record: bytes) -> bool:
    message = json.loads(record).get("message") or {}
    return bool(message.get("content") or message.get("thinking"))


def _sse_token(record: bytes) -> bool:
    data = record.strip().removeprefix(b"data:").strip()
    if not data or data == b"[DONE]":
        return False
    choices: list[dict[str, Any]] = json.loads(data).get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content") or delta.get("reasoning"))


@dataclass(frozen=True)
class WireFormat:
    """How records are separated in a streamed body, and which of them carry a token."""

    separator: bytes
    is_token: Callable[[bytes], bool]


NDJSON = WireFormat(b"\n", _ndjson_token)
SSE = WireFormat(b"\n\n", _sse_token)


@dataclass(frozen=True)
class StreamTiming:
    """One streamed answer: nanoseconds from sending to the first token and to the last byte."""

    status: int
    first_token_ns: int
    total_ns: int
    chunks_from_first_token: int


async def _read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The data of the next HTTP/1.1 chunk (empty at the terminating zero-size chunk)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    return (await reader.readexactly(size + 2))[:size]


async def stream_once(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, wire: WireFormat
) -> StreamTiming:
    """Send one streamed request on an open connection and time its answer."""
    started = time.perf_counter_ns()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" not in head.lower():
        raise RuntimeError(f"expected a chunked streaming answer, got: {head[:200]!r}")
    first_token = 0
    chunks = 0
    pending = b""
    while data := await _read_chunk(reader):
        pending += data
        *records, pending = pending.split(wire.separator)
        if first_token:
            chunks += len(records)
            continue
        for position, record in enumerate(records):
            if record.strip() and wire.is_token(record):
                first_token = time.perf_counter_ns()
                chunks += len(records) - position
                break
    ended = time.perf_counter_ns()
    if not first_token:
        raise RuntimeError(f"a streamed answer (status {status}) carried no token")
    return StreamTiming(status, first_token - started, ended - started, chunks)


async def drive_streams(port: int, request: bytes, count: int, wire: WireFormat) -> dict[str, Any]:
    """``count`` streamed answers, one after another on one connection: first-token and relay."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        timings = [await stream_once(reader, writer, request, wire) for _ in range(count)]
    finally:
        writer.close()
    first = sorted(t.first_token_ns for t in timings)
    relay_ns = sum(t.total_ns - t.first_token_ns for t in timings)
    chunks = sum(t.chunks_from_first_token for t in timings)
    return {
        "streams": count,
        "errors": sum(t.status != 200 for t in timings),
        "first_token_p50_ms": percentile(first, 0.50),
        "first_token_p99_ms": percentile(first, 0.99),
        "chunks_per_stream": round(chunks / count, 1),
        "chunks_per_s": round(chunks / (relay_ns / 1e9)) if relay_ns else None,
        "streams_per_s": round(count / (sum(t.total_ns for t in timings) / 1e9), 1),
    }
