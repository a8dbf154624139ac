"""`gptoss chat`: the interactive conversation loop and its slash commands."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._client import Client
from .._exceptions import APIError
from ._errors import print_error
from ._render import AnswerView

EFFORTS = ("low", "medium", "high")
PROMPT = Text("you> ", style="bold green")

HELP = (
    ("/reset", "forget the conversation so far (keeps the system prompt)"),
    ("/system TEXT", "set the system prompt (without TEXT: show it)"),
    ("/effort low|medium|high", "how hard the model thinks (without a level: show it)"),
    ("/save FILE", "write the conversation to FILE as JSON"),
    ("/help", "this list"),
    ("/exit", "leave (Ctrl-D too); Ctrl-C stops the current answer"),
)


@dataclass
class Conversation:
    """The state of a chat: system prompt, reasoning effort and the turns so far."""

    system: str | None = None
    effort: str | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)

    def messages(self, user_text: str | None = None) -> list[dict[str, Any]]:
        """Everything to send: system prompt, history, and the new user message if given."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages += self.turns
        if user_text is not None:
            messages.append({"role": "user", "content": user_text})
        return messages

    def record(self, user_text: str, answer: str) -> None:
        """Keep a finished exchange (the reasoning is not sent back, as gpt-oss expects)."""
        self.turns.append({"role": "user", "content": user_text})
        self.turns.append({"role": "assistant", "content": answer})

    def save(self, path: Path, model: str) -> int:
        """Write the conversation as JSON; returns the number of messages written."""
        messages = self.messages()
        document = {"model": model, "reasoning_effort": self.effort, "messages": messages}
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return len(messages)


def _enable_line_editing() -> None:
    """Arrow keys and input history at the prompt, where the platform has readline."""
    try:
        importlib.import_module("readline")
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return


class Repl:
    """Reads a line, answers it with a streamed reply, repeats until /exit or Ctrl-D."""

    def __init__(
        self,
        client: Client,
        console: Console,
        *,
        conversation: Conversation,
        show_reasoning: bool,
        read_line: Callable[[], str] | None = None,
    ) -> None:
        self.client = client
        self.console = console
        self.conversation = conversation
        self.show_reasoning = show_reasoning
        self._read_line = read_line or (lambda: console.input(PROMPT))
        self._commands: dict[str, Callable[[str], bool]] = {
            "/reset": self._reset,
            "/system": self._system,
            "/effort": self._effort,
            "/save": self._save,
            "/help": self._help,
            "/exit": self._exit,
            "/quit": self._exit,
        }

    def run(self) -> int:
        """The loop; returns the exit code (0: the user left)."""
        _enable_line_editing()
        self.console.print(
            Text.assemble(
                ("gptoss chat", "bold"),
                f" · {self.client.model} at {self.client.base_url}\n",
                ("/help lists commands · Ctrl-C stops an answer · Ctrl-D leaves", "dim"),
            )
        )
        while True:
            try:
                line = self._read_line().strip()
            except EOFError:
                self.console.print()
                return 0
            except KeyboardInterrupt:
                self.console.print(Text("\n(Ctrl-D or /exit leaves)", style="dim"))
                continue
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return 0
                continue
            self.answer(line)

    def command(self, line: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, argument = line.partition(" ")
        handler = self._commands.get(name.lower())
        if handler is None:
            self._note(f"unknown command {name}; /help lists the commands")
            return True
        return handler(argument.strip())

    def answer(self, text: str) -> None:
        """Send `text` with the history and show the streamed answer; Ctrl-C stops it."""
        view = AnswerView(self.console, self.console, show_reasoning=self.show_reasoning)
        events = self.client.stream_chat(
            self.conversation.messages(text), reasoning_effort=self.conversation.effort
        )
        try:
            with closing(events), view:
                for event in events:
                    view.handle(event)
        except KeyboardInterrupt:
            self._note("(stopped; this exchange is not kept in the conversation)")
            return
        except APIError as error:
            print_error(self.console, error, self.client.config)
            return
        self.conversation.record(text, view.content)

    def _note(self, message: str) -> None:
        self.console.print(Text(message, style="dim"))

    def _reset(self, _: str) -> bool:
        self.conversation.turns.clear()
        self._note("conversation cleared")
        return True

    def _system(self, text: str) -> bool:
        if text:
            self.conversation.system = text
            self._note("system prompt set")
        else:
            self._note(f"system prompt: {self.conversation.system or '(none)'}")
        return True

    def _effort(self, level: str) -> bool:
        level = level.lower()
        if level in EFFORTS:
            self.conversation.effort = level
            self._note(f"reasoning effort: {level}")
        elif level:
            self._note(f"unknown effort {level!r}; use one of {', '.join(EFFORTS)}")
        else:
            self._note(f"reasoning effort: {self.conversation.effort or 'server default'}")
        return True

    def _save(self, filename: str) -> bool:
        if not filename:
            self._note("usage: /save FILE")
            return True
        path = Path(filename).expanduser()
        try:
            count = self.conversation.save(path, self.client.model)
        except OSError as exc:
            self._note(f"could not save to {path}: {exc.strerror or exc}")
        else:
            self._note(f"saved {count} messages to {path}")
        return True

    def _help(self, _: str) -> bool:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for command, description in HELP:
            table.add_row(Text(command, style="bold"), description)
        self.console.print(table)
        return True

    def _exit(self, _: str) -> bool:
        return False
