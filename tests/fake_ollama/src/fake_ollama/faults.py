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
========================  ==================================================================
"""

from __future__ import annotations

import enum

from fake_ollama.catalog import FAULT_MODEL_PREFIX

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
