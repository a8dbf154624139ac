"""Running a planned reply: queueing on ``num_parallel``, load delay, token pacing, metrics.

Metrics are measured, in nanoseconds: ``total_duration`` from request arrival (queueing included),
``load_duration`` = the first-token delay (model load), ``prompt_eval_duration`` = load end to first
token, ``eval_duration`` = first token to the end. Zero values are omitted like Ollama's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from fake_ollama.asgi import Exchange
from fake_ollama.delivery import deliver_whole, stream_lines
from fake_ollama.faults import Fault
from fake_ollama.generation import Plan
from fake_ollama.state import Slot, State


class Shape(Protocol):
    """Builds the endpoint-specific objects (``/api/chat`` vs ``/api/generate``)."""

    calls_on_final: bool  # gpt-oss: tool calls ride on the done chunk only

    def thinking(self, token: str) -> dict[str, Any]:
        """A non-final chunk carrying reasoning."""

    def content(self, token: str) -> dict[str, Any]:
        """A non-final chunk carrying answer text."""

    def calls(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """A non-final chunk carrying tool calls (non-gpt-oss models)."""

    def final(self, plan: Plan, whole: bool, metrics: dict[str, int]) -> dict[str, Any]:
        """The ``done: true`` object; ``whole`` = the full text (``stream: false``)."""


@dataclass(slots=True)
class Job:
    """One generation request, validated and planned."""

    model: str
    plan: Plan
    shape: Shape
    stream: bool
    fault: Fault | None
    prompt_eval_count: int
    keep_alive_s: float
    first_token_delay: float
    token_delay: float


class _Clock:
    """Timestamps of one generation, in ``perf_counter_ns`` units."""

    __slots__ = ("acquired", "arrived", "first", "loaded")

    def __init__(self, arrived: int) -> None:
        self.arrived = arrived
        self.acquired = self.loaded = self.first = 0

    def token(self) -> None:
        if not self.first:
            self.first = time.perf_counter_ns()

    def metrics(self, prompt_eval_count: int, eval_count: int) -> dict[str, int]:
        end = time.perf_counter_ns()
        first = self.first or end
        values = {
            "total_duration": end - self.arrived,
            "load_duration": self.loaded - self.acquired,
            "prompt_eval_count": prompt_eval_count,
            "prompt_eval_duration": first - self.loaded,
            "eval_count": eval_count,
            "eval_duration": end - first,
        }
        return {k: v for k, v in values.items() if v}


async def run(ex: Exchange, state: State, job: Job) -> None:
    """Queue, "load", generate and deliver ``job`` (streamed or whole)."""
    if job.stream or job.first_token_delay or job.token_delay or state.limited:
        ex.watch_disconnect()
    clock = _Clock(ex.started_ns)
    ex.stage = "queued"
    with state.generations.tracking():
        await _run_admitted(ex, state, job, clock)


async def _run_admitted(ex: Exchange, state: State, job: Job, clock: _Clock) -> None:
    async with state.slot() as slot:
        clock.acquired = time.perf_counter_ns()
        ex.stage = "loading"
        if job.first_token_delay:
            await asyncio.sleep(job.first_token_delay)
        clock.loaded = time.perf_counter_ns()
        state.store.touch_loaded(job.model, job.keep_alive_s)
        ex.stage = "generating"
        if job.stream:
            await _stream(ex, state, job, clock, slot)
        else:
            await _whole(ex, job, clock, slot)


async def _stream(ex: Exchange, state: State, job: Job, clock: _Clock, slot: Slot) -> None:
    def final() -> dict[str, Any]:
        metrics = clock.metrics(job.prompt_eval_count + job.plan.prompt_extra, job.plan.eval_count)
        return job.shape.final(job.plan, False, metrics)

    chunks = _chunks(ex, job, clock, slot)
    await stream_lines(ex, state, chunks, final, job.fault, job.plan.late_error)


async def _chunks(
    ex: Exchange, job: Job, clock: _Clock, slot: Slot
) -> AsyncIterator[dict[str, Any]]:
    plan, shape, delay = job.plan, job.shape, job.token_delay
    for token in plan.thinking:
        if delay:
            await asyncio.sleep(delay)
        clock.token()
        ex.tokens += 1
        yield shape.thinking(token)
    if plan.second_pass:  # structured output: the constrained pass queues and evaluates first
        await _second_pass_start(ex, job, slot)
    for token in plan.content:
        if delay:
            await asyncio.sleep(delay)
        clock.token()
        ex.tokens += 1
        yield shape.content(token)
    if plan.tool_calls:
        await _tool_call_tokens(ex, job, clock)
        if not shape.calls_on_final:
            yield shape.calls(plan.tool_calls)


async def _second_pass_start(ex: Exchange, job: Job, slot: Slot) -> None:
    """Structured output's second pass: in the queue for a slot again, then a pause of
    ``first_token_delay`` (its prompt evaluation) before it answers."""
    ex.stage = "queued"
    await slot.requeue()
    ex.stage = "generating"
    if job.first_token_delay:
        await asyncio.sleep(job.first_token_delay)


async def _tool_call_tokens(ex: Exchange, job: Job, clock: _Clock) -> None:
    cost = job.plan.eval_count - ex.tokens
    if job.token_delay and cost > 0:
        await asyncio.sleep(job.token_delay * cost)
    clock.token()
    ex.tokens += max(cost, 0)


async def _whole(ex: Exchange, job: Job, clock: _Clock, slot: Slot) -> None:
    if job.token_delay:
        for _ in range(job.plan.eval_count):
            await asyncio.sleep(job.token_delay)
            clock.token()
            ex.tokens += 1
    else:
        clock.token()
        ex.tokens = job.plan.eval_count
    if job.plan.second_pass:
        await _second_pass_start(ex, job, slot)
    metrics = clock.metrics(job.prompt_eval_count + job.plan.prompt_extra, job.plan.eval_count)
    final = job.shape.final(job.plan, True, metrics)
    await deliver_whole(ex, final, job.fault, job.plan.late_error)
