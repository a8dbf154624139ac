"""The one-shot commands: `gptoss ask` and `gptoss models`."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from .._client import Client
from .._exceptions import APIError, APIStatusError
from ._render import AnswerView


def read_prompt(words: list[str], stdin: TextIO) -> str:
    """The question: the words given, followed by piped stdin (when stdin is not a terminal)."""
    prompt = " ".join(words).strip()
    if stdin.isatty():
        return prompt
    piped = stdin.read().strip()
    return f"{prompt}\n\n{piped}" if prompt and piped else prompt or piped


def ask_messages(prompt: str, system: str | None) -> list[dict[str, Any]]:
    """A system message (if any) and the question."""
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def write_json(console: Console, document: object) -> None:
    """Machine output: one JSON document on its own line, never wrapped or styled."""
    console.file.write(json.dumps(document, ensure_ascii=False) + "\n")
    console.file.flush()


def error_document(error: APIError) -> dict[str, Any]:
    """An error as JSON, for `--json` callers."""
    document: dict[str, Any] = {
        "type": type(error).__name__,
        "message": error.message,
        "request_id": error.request_id,
    }
    if isinstance(error, APIStatusError):
        document.update(status=error.status_code, code=error.code, retry_after=error.retry_after)
    return {"error": document}


def ask(
    client: Client,
    out: Console,
    err: Console,
    *,
    prompt: str,
    system: str | None,
    effort: str | None,
    max_tokens: int | None,
    show_reasoning: bool,
    as_json: bool,
) -> None:
    """Answer one question: streamed to the terminal, or as one JSON document with --json."""
    messages = ask_messages(prompt, system)
    if as_json:
        result = client.chat(messages, reasoning_effort=effort, max_tokens=max_tokens)
        write_json(out, asdict(result))
        return
    events = client.stream_chat(messages, reasoning_effort=effort, max_tokens=max_tokens)
    with closing(events), AnswerView(out, err, show_reasoning=show_reasoning) as view:
        for event in events:
            view.handle(event)


def list_models(client: Client, out: Console, *, as_json: bool) -> None:
    """The models the key may use, as a table or JSON."""
    models = client.models()
    if as_json:
        write_json(out, [asdict(model) for model in models])
        return
    table = Table("model", "owned by", "created")
    for model in models:
        created = datetime.fromtimestamp(model.created, UTC).strftime("%Y-%m-%d")
        table.add_row(model.id, model.owned_by, created if model.created else "")
    out.print(table)
