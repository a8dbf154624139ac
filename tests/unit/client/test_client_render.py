"""How streamed answers are shown: Markdown blocks on a terminal, raw text in a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from gptoss import ContentDelta, Done, ReasoningDelta, Usage
from gptoss.cli._render import AnswerView, MarkdownBlocks


def test_blocks_finish_at_blank_lines() -> None:
    blocks = MarkdownBlocks()
    assert blocks.feed("# Title\n\nFirst para") == ["# Title"]
    assert blocks.feed("graph.\n\n- a\n- b\n") == ["First paragraph."]
    assert blocks.pending == "- a\n- b\n"


def test_a_blank_line_inside_a_code_fence_does_not_split_it() -> None:
    blocks = MarkdownBlocks()
    code = "```python\nx = 1\n\ny = 2\n```\n"
    assert blocks.feed(code) == []
    assert blocks.feed("\nAfter") == [code.strip("\n")]
    assert blocks.pending == "After"


def feed(view: AnswerView, *events: object) -> None:
    with view:
        for event in events:
            view.handle(event)  # type: ignore[arg-type]


def test_on_a_terminal_the_answer_is_rendered_as_markdown() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=60, color_system=None)
    view = AnswerView(console, console, show_reasoning=False)
    feed(
        view,
        ReasoningDelta("plan"),
        ContentDelta("# Heading\n\nSome **bold** text.\n\n"),
        ContentDelta("```\ncode()\n```"),
        Usage(1, 2, 3, reasoning_tokens=1),
        Done("stop", None),
    )
    text = out.getvalue()
    assert "Heading" in text
    assert "**bold**" not in text  # rendered, not raw
    assert "bold" in text
    assert "code()" in text
    assert "thought for 1 token (" in text
    assert view.content == "# Heading\n\nSome **bold** text.\n\n```\ncode()\n```"


def test_in_a_pipe_the_answer_is_raw_and_notes_go_elsewhere() -> None:
    out, notes = io.StringIO(), io.StringIO()
    view = AnswerView(Console(file=out), Console(file=notes), show_reasoning=True)
    feed(view, ReasoningDelta("step 1\nstep 2"), ContentDelta("**raw**"), Done("length", None))
    assert out.getvalue() == "**raw**\n"
    assert notes.getvalue() == "step 1\nstep 2\ncut short: the token limit was reached\n"


def test_without_a_token_count_the_summary_gives_the_thinking_time() -> None:
    view = AnswerView(
        Console(file=io.StringIO()), Console(file=io.StringIO()), show_reasoning=False
    )
    feed(view, ReasoningDelta("x"), ContentDelta("y"), Usage(1, 2, 3), Done("stop", None))
    assert view.summary().startswith("thought for ")
    assert view.summary().endswith(" s")
    assert "tokens" not in view.summary()


def test_no_summary_when_there_was_no_reasoning() -> None:
    view = AnswerView(
        Console(file=io.StringIO()), Console(file=io.StringIO()), show_reasoning=False
    )
    feed(view, ContentDelta("y"), Done("stop", None))
    assert view.summary() == ""
