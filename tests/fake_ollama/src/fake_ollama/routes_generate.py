"""``POST /api/chat`` and ``POST /api/generate``: validate, plan, then run (see ``inference``)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fake_ollama import validation as v
from fake_ollama.asgi import Exchange, HTTPError, json_kind, typed
from fake_ollama.catalog import ModelSpec, full_name
from fake_ollama.clock import rfc3339
from fake_ollama.delivery import pre_stream_fault
from fake_ollama.faults import Fault
from fake_ollama.generation import (
    Plan,
    ReplyRequest,
    context_ids,
    count_chat_prompt,
    count_text_prompt,
    plan_reply,
)
from fake_ollama.inference import Job, run
from fake_ollama.state import State
from fake_ollama.truncation import DEFAULT_NUM_KEEP, fit_messages, runner_prompt_tokens

_MESSAGE_FIELDS = (("role", "string"), ("content", "string"), ("thinking", "string"))


class ChatShape:
    """Objects of ``/api/chat`` (``message`` with ``content``/``thinking``/``tool_calls``)."""

    def __init__(self, model: str, calls_on_final: bool) -> None:
        self.model = model
        self.calls_on_final = calls_on_final

    def _chunk(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model, "created_at": rfc3339(), "message": message, "done": False}

    def thinking(self, token: str) -> dict[str, Any]:
        """A reasoning chunk."""
        return self._chunk({"role": "assistant", "content": "", "thinking": token})

    def content(self, token: str) -> dict[str, Any]:
        """An answer chunk."""
        return self._chunk({"role": "assistant", "content": token})

    def calls(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """A tool-call chunk (non-gpt-oss models)."""
        return self._chunk({"role": "assistant", "content": "", "tool_calls": calls})

    def final(self, plan: Plan, whole: bool, metrics: dict[str, int]) -> dict[str, Any]:
        """The done object."""
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        if whole:
            message["content"] = "".join(plan.content)
            if plan.thinking:
                message["thinking"] = "".join(plan.thinking)
        if plan.tool_calls and (whole or self.calls_on_final):
            message["tool_calls"] = plan.tool_calls
        return {
            "model": self.model,
            "created_at": rfc3339(),
            "message": message,
            "done": True,
            "done_reason": plan.done_reason,
            **metrics,
        }


class GenerateShape:
    """Objects of ``/api/generate`` (``response``/``thinking``, ``context`` on the last)."""

    calls_on_final = True  # generate has no tools; never used

    def __init__(self, model: str, prompt: str, raw: bool) -> None:
        self.model = model
        self.prompt = prompt
        self.raw = raw

    def thinking(self, token: str) -> dict[str, Any]:
        """A reasoning chunk."""
        return {
            "model": self.model,
            "created_at": rfc3339(),
            "response": "",
            "thinking": token,
            "done": False,
        }

    def content(self, token: str) -> dict[str, Any]:
        """An answer chunk."""
        return {"model": self.model, "created_at": rfc3339(), "response": token, "done": False}

    def calls(self, calls: list[dict[str, Any]]) -> dict[str, Any]:
        """A tool-call chunk (never planned for generate: it has no ``tools``)."""
        return {
            "model": self.model,
            "created_at": rfc3339(),
            "response": "",
            "done": False,
            "tool_calls": calls,
        }

    def final(self, plan: Plan, whole: bool, metrics: dict[str, int]) -> dict[str, Any]:
        """The done object."""
        response = "".join(plan.content)
        obj: dict[str, Any] = {
            "model": self.model,
            "created_at": rfc3339(),
            "response": response if whole else "",
        }
        if whole and plan.thinking:
            obj["thinking"] = "".join(plan.thinking)
        obj["done"] = True
        obj["done_reason"] = plan.done_reason
        if not self.raw:
            obj["context"] = context_ids(f"{self.prompt} {response}")
        obj.update(metrics)
        return obj


async def _load_only(
    ex: Exchange, state: State, model: str, keep_alive: float, done: dict[str, Any]
) -> None:
    """Empty request: load (or with ``keep_alive: 0`` unload) the model; one JSON object."""
    if keep_alive == 0:
        state.store.touch_loaded(model, 0)
        reason = "unload"
    else:
        delay = v.pace(ex, state.settings, None).first_token_delay
        if delay:
            ex.watch_disconnect()
            ex.stage = "loading"
            await asyncio.sleep(delay)
        state.store.touch_loaded(model, keep_alive)
        reason = "load"
    await ex.send_json(
        200, {"model": model, "created_at": rfc3339(), **done, "done": True, "done_reason": reason}
    )


def _objects(body: dict[str, Any], key: str, go_type: str) -> list[dict[str, Any]]:
    """``body[key]`` as a list of JSON objects (Go's unmarshal errors otherwise)."""
    items: list[Any] = typed(body, key, (list,), "ChatRequest", f"[]{go_type}") or []
    for item in items:
        if not isinstance(item, dict):
            kind = json_kind(item)
            raise HTTPError(
                400,
                f"json: cannot unmarshal {kind} into Go struct field ChatRequest.{key}"
                f" of type {go_type}",
            )
    return items


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = _objects(body, "messages", "api.Message")
    for message in messages:
        for key, go_type in _MESSAGE_FIELDS:
            typed(message, key, (str,), "ChatRequest.messages", go_type)
    return messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = _objects(body, "tools", "api.Tool")
    for tool in tools:
        typed(tool, "function", (dict,), "ChatRequest.tools", "api.ToolFunction")
    return tools


def _chat_subject(messages: list[dict[str, Any]]) -> tuple[str, str, bool]:
    """(subject, answer prefix, last message is from the user)."""
    last = messages[-1]
    role = str(last.get("role") or "").lower()
    if role == "tool":
        name = last.get("tool_name") or "tool"
        return str(last.get("content") or ""), f"Fake answer using {name} result:", False
    user: dict[str, Any] = next(
        (m for m in reversed(messages) if str(m.get("role", "")).lower() == "user"), {}
    )
    return str(user.get("content") or ""), "Fake answer to:", role == "user"


@dataclasses.dataclass(frozen=True, slots=True)
class _Common:
    """What chat and generate validate the same way."""

    model: str
    spec: ModelSpec
    stream: bool
    level: str | None
    fmt: object
    opts: dict[str, Any]
    keep_alive: float
    fault: Fault | None
    num_ctx: int  # options.num_ctx, else the server's context length (fake_ollama.truncation)


def _common(ex: Exchange, state: State, body: dict[str, Any], struct: str, verb: str) -> _Common:
    model = ex.model = v.require_model(body, struct)
    stream = v.stream_flag(body, struct)
    spec = v.lookup(state, model, f"model '{model}' not found")
    if "completion" not in spec.capabilities:
        raise HTTPError(400, f'"{model}" does not support {verb}')
    opts = v.options(body, struct)
    return _Common(
        model=model,
        spec=spec,
        stream=stream,
        level=v.think_level(body, model, spec),
        fmt=v.output_format(body),
        opts=opts,
        keep_alive=v.keep_alive_seconds(body, state.settings),
        fault=v.request_fault(ex, model, state),
        num_ctx=int(opts.get("num_ctx") or state.settings.context_length),
    )


async def chat(ex: Exchange, state: State) -> None:
    """``POST /api/chat``."""
    body = ex.json_object("ChatRequest")
    messages = _messages(body)
    tools = _tools(body)
    c = _common(ex, state, body, "ChatRequest", "chat")
    if tools and "tools" not in c.spec.capabilities:
        raise HTTPError(400, f"{full_name(c.model)} does not support tools")
    if await pre_stream_fault(ex, state, c.fault, c.stream and bool(messages)):
        return
    if not messages:
        empty = {"message": {"role": "assistant", "content": ""}}
        await _load_only(ex, state, c.model, c.keep_alive, empty)
        return
    subject, prefix, from_user = _chat_subject(messages)
    reply = ReplyRequest(subject, prefix, c.level, tools if from_user else (), c.fmt)
    shape = ChatShape(c.model, c.spec.thinks)
    kept = fit_messages(messages, lambda some: count_chat_prompt(some, tools), c.num_ctx)
    prompt_tokens = _runner_tokens(c, count_chat_prompt(kept, tools))
    await run(ex, state, _job(ex, state, c, reply, prompt_tokens, shape))


async def generate(ex: Exchange, state: State) -> None:
    """``POST /api/generate``."""
    body = ex.json_object("GenerateRequest")
    prompt = typed(body, "prompt", (str,), "GenerateRequest", "string") or ""
    system = typed(body, "system", (str,), "GenerateRequest", "string") or ""
    raw = bool(typed(body, "raw", (bool,), "GenerateRequest", "bool"))
    typed(body, "context", (list,), "GenerateRequest", "[]int")
    suffix = typed(body, "suffix", (str,), "GenerateRequest", "string") or ""
    if raw and (body.get("template") or system or body.get("context")):
        raise HTTPError(400, "raw mode does not support template, system, or context")
    c = _common(ex, state, body, "GenerateRequest", "generate")
    if suffix and "insert" not in c.spec.capabilities:
        # Ollama asks for the insert capability whenever suffix is non-empty, even to load.
        raise HTTPError(400, f"{full_name(c.model)} does not support insert")
    if await pre_stream_fault(ex, state, c.fault, c.stream and bool(prompt)):
        return
    if not prompt:
        await _load_only(ex, state, c.model, c.keep_alive, {"response": ""})
        return
    reply = ReplyRequest(prompt, think_level=c.level, fmt=c.fmt)
    shape = GenerateShape(c.model, prompt, raw)
    prompt_tokens = _runner_tokens(c, count_text_prompt(prompt, system))
    await run(ex, state, _job(ex, state, c, reply, prompt_tokens, shape))


def _runner_tokens(c: _Common, tokens: int) -> int:
    """The prompt tokens that reach the model once the runner cut an over-long prompt."""
    num_keep = c.opts.get("num_keep")
    keep = int(num_keep) if num_keep is not None else DEFAULT_NUM_KEEP
    return runner_prompt_tokens(tokens, c.num_ctx, keep)


def _job(
    ex: Exchange,
    state: State,
    c: _Common,
    reply: ReplyRequest,
    prompt_eval_count: int,
    shape: ChatShape | GenerateShape,
) -> Job:
    pace = v.pace(ex, state.settings, c.fault)
    reply = dataclasses.replace(
        reply,
        thinking_tokens=pace.thinking_tokens,
        content_tokens=pace.content_tokens,
        num_predict=int(c.opts.get("num_predict") or -1),
        stop=tuple(c.opts.get("stop") or ()),
    )
    return Job(
        model=c.model,
        plan=plan_reply(reply),
        shape=shape,
        stream=c.stream,
        fault=c.fault,
        prompt_eval_count=prompt_eval_count,
        keep_alive_s=c.keep_alive,
        first_token_delay=pace.first_token_delay,
        token_delay=pace.token_delay,
    )
