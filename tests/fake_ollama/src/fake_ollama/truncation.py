"""A prompt longer than the context window, cut silently the way Ollama 0.32.15 cuts it.

Two steps, both without an error (``truncate`` defaults to true):

* ``chatPrompt`` (server/prompt.go) drops whole messages from the front, one at a time, until the
  rendered prompt fits ``num_ctx``; system messages among the dropped ones are kept, and the last
  message always is, even when it does not fit alone.
* ``completionPromptForRequest`` (llm/llama_server.go) then cuts a prompt still longer than
  ``num_ctx - 1`` tokens: it keeps the first ``num_keep`` tokens (default 4, ``api.DefaultOptions``)
  and the tail, ``contextShiftPromptLimit`` = ``num_ctx - max((num_ctx - num_keep) // 2, 1)``
  tokens in all: about half the window, leaving room to generate.

The fake's token counts are its word counts (``fake_ollama.generation``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_NUM_KEEP = 4

Message = dict[str, Any]


def fit_messages(
    messages: Sequence[Message], count: Callable[[Sequence[Message]], int], num_ctx: int
) -> list[Message]:
    """The messages ``chatPrompt`` keeps: the shortest drop from the front that fits."""
    last = len(messages) - 1
    for start in range(last + 1):
        system = [m for m in messages[:start] if m.get("role") == "system"]
        kept = [*system, *messages[start:]]
        if count(kept) <= num_ctx or start == last:
            return kept
    return list(messages)


def runner_prompt_tokens(tokens: int, num_ctx: int, num_keep: int = DEFAULT_NUM_KEEP) -> int:
    """Tokens of a ``tokens``-long prompt that reach the model (the runner's cut)."""
    if num_ctx <= 1 or tokens <= num_ctx - 1:
        return tokens
    keep = max(0, min(tokens if num_keep < 0 else num_keep, num_ctx - 1))
    return num_ctx - max((num_ctx - keep) // 2, 1)
