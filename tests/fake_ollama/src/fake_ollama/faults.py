"""Fault injection, chosen per request by ``X-Fake-Fault: <name>`` or the model ``fault-<name>``.

========================  ==================================================================
fault                     behaviour
========================  ==================================================================
``http-500``              500 JSON error (runner crash) before any byte is streamed
``busy``                  503 ``server busy, please try again.  maximum pending requests exceeded``
``hang``                  no byte at all until the client goes away (bounded by ``hang_seconds``,
                          then a 500 error)
``drop``                  streams ``fault_after`` chunks, then closes the connection (no done line);
                          non-streaming: headers and half the body, then close
``malformed``             a non-JSON line after ``fault_after`` chunks, then the rest normally;
                          non-streaming: a truncated JSON body with status 200
``midstream-error``       ``fault_after`` chunks, then ``{"error": ...}`` (status 200, no done);
                          non-streaming: 500 JSON error
``slow``                  ``slow_tokens`` content tokens, ``slow_token_delay`` apart
``legacy-error``          0.11.x style: status 200 + one NDJSON ``{"error": ...}`` line;
                          non-streaming: 500 JSON error
``tool-parse-error``      every chunk, then ``{"error": "error parsing tool call: raw='...',
                          err=..."}`` in place of the done line (a 500 JSON error when no chunk
                          went out); non-streaming: that 500 JSON error
``tool-parse-error-once`` ``tool-parse-error`` the first time a request body is seen (since the
                          last reset), a normal reply for the same body again: a retry succeeds
========================  ==================================================================

The tool-call parse error follows Ollama 0.32.15: ``HarmonyMessageHandler.Add``
(harmony/harmonyparser.go) parses the accumulated tool call only when the runner says ``done`` and
returns ``error parsing tool call: raw='<text>', err=<json.Unmarshal error>``; ChatHandler
(server/routes.go) then cancels the generation and sends ``{"error": ...}`` instead of the done
chunk: a mid-stream line after the chunks already written (no done line), a 500 JSON body when
nothing was written yet (``streamResponse``), and a 500 for ``stream: false``
(``writeChatResponse``). gpt-oss emits it for a call with malformed arguments or one cut by
``num_predict``; the fault's ``raw`` is the first half of the planned call's arguments (a
``num_predict`` cut inside the call gives the same error without a fault: ``generation``).
"""

from __future__ import annotations

import enum
from typing import Any

from fake_ollama.catalog import FAULT_MODEL_PREFIX
from fake_ollama.generation import tool_call_error

RUNNER_CRASH = "llama runner process has terminated: exit status 2"
QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
MIDSTREAM = "an error was encountered while running the model: unexpected EOF"
MALFORMED_LINE = b'{"model":"fault","created_at":"2025-01-01T00:00:00Z","message":{"role":\n'


class Fault(enum.Enum):
    """Injectable failure modes."""

    HTTP_500 = "http-500"
    BUSY = "busy"
    HANG = "hang"
    DROP = "drop"
    MALFORMED = "malformed"
    MIDSTREAM_ERROR = "midstream-error"
    SLOW = "slow"
    LEGACY_ERROR = "legacy-error"
    TOOL_PARSE_ERROR = "tool-parse-error"
    TOOL_PARSE_ERROR_ONCE = "tool-parse-error-once"


class UnknownFaultError(ValueError):
    """The requested fault name does not exist."""


def _lookup(name: str) -> Fault:
    try:
        return Fault(name.strip().lower())
    except ValueError:
        known = ", ".join(f.value for f in Fault)
        raise UnknownFaultError(f'fake-ollama: unknown fault "{name}" (known: {known})') from None


def resolve(header: str | None, model: str | None) -> Fault | None:
    """The fault for a request: the header wins over a ``fault-<name>[:tag]`` model name."""
    if header:
        return _lookup(header)
    if model and model.startswith(FAULT_MODEL_PREFIX):
        return _lookup(model[len(FAULT_MODEL_PREFIX) :].split(":", 1)[0])
    return None


STREAM_FAULTS = frozenset({Fault.DROP, Fault.MALFORMED, Fault.MIDSTREAM_ERROR})


def tool_parse_error(final: dict[str, Any]) -> str:
    """Ollama's error for the tool call ``final`` (the done object) carries, half written.

    See :func:`fake_ollama.generation.tool_call_error`; without a planned call ``raw`` is ``{``.
    """
    message = final.get("message")
    calls = (message.get("tool_calls") if isinstance(message, dict) else None) or final.get(
        "tool_calls"
    )
    call = calls[0] if isinstance(calls, list) and calls else {}
    return tool_call_error(call)
