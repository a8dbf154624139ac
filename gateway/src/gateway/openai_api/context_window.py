"""The context window: Ollama cuts a longer prompt without a word, so the gateway says so.

Ollama 0.32.15 never refuses a long prompt (``truncate`` defaults to true): ``chatPrompt``
(server/prompt.go) drops the oldest messages, keeping the system messages and the last one, and
the runner (llm/llama_server.go ``completionPromptForRequest``) cuts a prompt still too long to
its first ``num_keep`` tokens and its tail, about half the window. The model then answers a
question it only partly saw. Before sending, the gateway estimates the prompt's tokens from its
size (:func:`estimate_prompt_tokens`: UTF-8 bytes / 4, plus 4 per message for the chat framing)
and compares them with ``GATEWAY_CONTEXT_LENGTH`` (Ollama's ``OLLAMA_CONTEXT_LENGTH``):

* more than twice the window: most of the prompt would be lost, a 400
  ``context_length_exceeded`` before Ollama is asked;
* more than the window: the answer carries ``X-Prompt-Truncated: true`` and a warning is logged
  (sizes only, never the prompt).

The estimate is deliberately rough (real tokenisers average 3 to 5 bytes per token on English
text): the gateway cannot tokenise like the runner, which is why the refusal waits for twice the
window.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.context import RequestContext
from gateway.errors import InvalidRequest
from gateway.upstream.client import encode

log = logging.getLogger("gateway.context_window")

TRUNCATED_HEADER = "X-Prompt-Truncated"
BYTES_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
REFUSED_FACTOR = 2
_TEXT_FIELDS = ("content", "thinking")


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Rough token count of an Ollama ``/api/chat`` or ``/api/generate`` body's prompt.

    Tools and tool calls count as their JSON; JSON nested too deep to encode is the client's 400
    (:func:`gateway.upstream.client.encode`), as it would be when the body is sent.
    """
    size = 0
    messages = body.get("messages") or ()
    for message in messages:
        size += sum(len(str(message.get(key) or "").encode()) for key in _TEXT_FIELDS)
        if message.get("tool_calls"):
            size += len(encode({"tool_calls": message["tool_calls"]}))
    for key in ("prompt", "system"):
        size += len(str(body.get(key) or "").encode())
    if body.get("tools"):
        size += len(encode({"tools": body["tools"]}))
    return size // BYTES_PER_TOKEN + TOKENS_PER_MESSAGE * max(len(messages), 1)


def check_context(
    body: dict[str, Any], context_length: int, ctx: RequestContext, param: str
) -> None:
    """Refuse a prompt far beyond the window; flag one Ollama will cut (header and log line)."""
    tokens = estimate_prompt_tokens(body)
    if tokens > REFUSED_FACTOR * context_length:
        raise InvalidRequest(
            f"The prompt is about {tokens} tokens long and this server's context window is "
            f"{context_length} tokens: Ollama would drop most of it without telling the model. "
            "Shorten the conversation (drop or summarise old messages) or send a shorter text.",
            code="context_length_exceeded",
            param=param,
        )
    if tokens > context_length:
        ctx.add_response_header(TRUNCATED_HEADER, "true")
        log.warning(
            "prompt longer than the context window: Ollama drops the oldest messages or the "
            "start of the prompt",
            extra={"estimated_tokens": tokens, "context_length": context_length},
        )
