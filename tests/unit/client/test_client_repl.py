"""`gptoss chat`: history, slash commands, Ctrl-C on an answer, errors that do not end the chat."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from gptoss import Client
from gptoss.cli._repl import Conversation, Repl

from .gptoss_fakes import (
    ANSWER_EVENTS,
    Body,
    ScriptedGateway,
    chunk,
    client,
    error_reply,
    sse,
    stream_reply,
)


def answer(text: str) -> httpx.Response:
    return stream_reply(
        sse(chunk({"reasoning": "hmm"}), chunk({"content": text}), chunk({}, "stop"), "[DONE]")
    )


def scripted_input(*lines: str | BaseException) -> Callable[[], str]:
    """Typed lines; an exception (KeyboardInterrupt) is raised at its turn; then Ctrl-D."""
    pending: Iterator[str | BaseException] = iter(lines)

    def read_line() -> str:
        item = next(pending, EOFError())
        if isinstance(item, BaseException):
            raise item
        return item

    return read_line


def chat(
    gateway: ScriptedGateway, *lines: str | BaseException, system: str | None = None
) -> tuple[int, str, Client]:
    console = Console(file=io.StringIO(), width=120)
    c = client(gateway)
    repl = Repl(
        c,
        console,
        conversation=Conversation(system=system),
        show_reasoning=False,
        read_line=scripted_input(*lines),
    )
    code = repl.run()
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return code, output, c


def test_each_turn_sends_the_history_so_far() -> None:
    gateway = ScriptedGateway(answer("Hi Ada."), answer("Your name is Ada."))
    code, output, _ = chat(gateway, "I am Ada.", "What is my name?", system="Be brief.")
    assert code == 0
    assert "Hi Ada." in output
    assert "Your name is Ada." in output
    assert gateway.body(1)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "What is my name?"},
    ]


def test_reset_forgets_the_conversation_but_keeps_the_system_prompt() -> None:
    gateway = ScriptedGateway(answer("one"), answer("two"))
    _, output, _ = chat(gateway, "first", "/reset", "second", system="S")
    assert "conversation cleared" in output
    assert gateway.body(1)["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "second"},
    ]


def test_system_sets_and_shows_the_system_prompt() -> None:
    gateway = ScriptedGateway(answer("ok"))
    _, output, _ = chat(gateway, "/system", "/system You are a pirate.", "/system", "hello")
    assert "system prompt: (none)" in output
    assert "system prompt: You are a pirate." in output
    assert gateway.body()["messages"][0] == {"role": "system", "content": "You are a pirate."}


def test_effort_changes_the_reasoning_effort_and_refuses_unknown_levels() -> None:
    gateway = ScriptedGateway(answer("a"), answer("b"))
    _, output, _ = chat(gateway, "/effort", "q1", "/effort HIGH", "/effort extreme", "q2")
    assert "reasoning effort: server default" in output
    assert "reasoning effort: high" in output
    assert "unknown effort 'extreme'" in output
    assert "reasoning_effort" not in gateway.body(0)
    assert gateway.body(1)["reasoning_effort"] == "high"


def test_save_writes_the_conversation_as_json(tmp_path: Path) -> None:
    target = tmp_path / "talk.json"
    gateway = ScriptedGateway(answer("Bonjour."))
    _, output, _ = chat(gateway, "/effort low", "Say hello in French", f"/save {target}")
    assert f"saved 2 messages to {target}" in output
    saved = json.loads(target.read_text(encoding="utf-8"))
    assert saved == {
        "model": "gpt-oss:20b",
        "reasoning_effort": "low",
        "messages": [
            {"role": "user", "content": "Say hello in French"},
            {"role": "assistant", "content": "Bonjour."},
        ],
    }


def test_save_problems_are_reported_and_the_chat_goes_on(tmp_path: Path) -> None:
    code, output, _ = chat(ScriptedGateway(), "/save", f"/save {tmp_path}/missing/dir/x.json")
    assert code == 0
    assert "usage: /save FILE" in output
    assert "could not save to" in output


def test_help_lists_every_command_and_unknown_commands_point_to_it() -> None:
    _, output, _ = chat(ScriptedGateway(), "/help", "/bogus")
    for command in ("/reset", "/system", "/effort", "/save", "/help", "/exit"):
        assert command in output
    assert "unknown command /bogus; /help lists the commands" in output


def test_exit_leaves_without_reading_further() -> None:
    gateway = ScriptedGateway()
    code, _, _ = chat(gateway, "/exit", "this is never sent")
    assert code == 0
    assert gateway.requests == []


def test_ctrl_c_at_the_prompt_does_not_leave() -> None:
    gateway = ScriptedGateway(answer("still here"))
    code, output, _ = chat(gateway, KeyboardInterrupt(), "hello")
    assert code == 0
    assert "Ctrl-D or /exit leaves" in output
    assert "still here" in output


def test_ctrl_c_during_an_answer_stops_it_closes_the_stream_and_keeps_chatting() -> None:
    body = Body(sse(chunk({"content": "A long ans"})), KeyboardInterrupt())
    gateway = ScriptedGateway(httpx.Response(200, stream=body), answer("Short."))
    code, output, _ = chat(gateway, "Tell me a long story", "Short version?")
    assert code == 0
    assert "stopped; this exchange is not kept" in output
    assert "Short." in output
    assert body.closed
    assert gateway.body(1)["messages"] == [{"role": "user", "content": "Short version?"}]


def test_an_error_is_explained_and_the_chat_continues() -> None:
    gateway = ScriptedGateway(
        error_reply(404, "model 'x' not found", code="model_not_found"), answer("fine")
    )
    code, output, _ = chat(gateway, "first", "second")
    assert code == 0
    assert "not found on the gateway" in output
    assert "fine" in output
    assert gateway.body(1)["messages"] == [{"role": "user", "content": "second"}]


def test_banner_names_the_model_and_the_gateway() -> None:
    _, output, _ = chat(ScriptedGateway())
    assert "gpt-oss:20b at http://gateway.test" in output


@pytest.mark.parametrize("show", [True, False])
def test_reasoning_is_shown_only_when_asked(show: bool) -> None:
    gateway = ScriptedGateway(stream_reply(sse(*ANSWER_EVENTS)))
    console = Console(file=io.StringIO(), width=120)
    repl = Repl(
        client(gateway),
        console,
        conversation=Conversation(),
        show_reasoning=show,
        read_line=scripted_input("hi"),
    )
    repl.run()
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert ("Greet back." in output) is show
    assert ("thought for 5 tokens" in output) is not show
