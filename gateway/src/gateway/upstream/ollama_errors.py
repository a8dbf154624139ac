"""What Ollama's failures mean for the caller: each one as the gateway's error, with what to do.

A status and body from Ollama (``{"error": "..."}``), a connection that could not be made, a pool
that stayed full, a first byte that never came: :class:`OllamaErrors` turns each into a
:class:`~gateway.errors.GatewayError` whose status, code and message say what happened and what
to do (retry, wait for a download, change the request, or for operators: which logs to read).
"""

from __future__ import annotations

import orjson

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ModelOutputInvalid,
    NotFound,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.settings import Settings
from gateway.upstream.capabilities import capability_error, missing_capability
from gateway.upstream.structured_output import late_schema_error

BUSY_MARKER = "server busy"
# Ollama's harmony parser (harmony/harmonyparser.go) when gpt-oss wrote a call it cannot parse.
TOOL_PARSE_MARKER = "error parsing tool call"
# Characters of Ollama's message quoted in a model error (it holds the model's raw output).
MAX_SHOWN_MODEL_ERROR = 300


class OllamaErrors:
    """The gateway's errors for Ollama's failures, worded with this gateway's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def first_byte_timeout(self) -> UpstreamTimeout:
        """The 504 for an Ollama that accepted the request but never started answering."""
        return UpstreamTimeout(
            f"Ollama did not start answering within {self.settings.first_byte_timeout:g} s "
            "(the model may be loading or the GPU saturated). Retry later, or raise "
            "GATEWAY_FIRST_BYTE_TIMEOUT."
        )

    def unreachable(self, exc: Exception) -> ServiceUnavailable:
        """The 503 for an Ollama that cannot be reached at all."""
        return ServiceUnavailable(
            f"Ollama is not reachable ({type(exc).__name__}); it may be starting or down. "
            f"Retry in {self.settings.retry_after_seconds} s; operators: check "
            "`docker compose logs ollama`.",
            retry_after=self.settings.retry_after_seconds,
            code="ollama_unavailable",
        )

    def saturated(self) -> ServiceUnavailable:
        """The 503 when every connection of this worker to Ollama stays busy (a full pool)."""
        retry = self.settings.retry_after_seconds
        return ServiceUnavailable(
            f"The gateway has {self.settings.upstream_max_connections} requests in progress "
            "with Ollama on this worker and none finished in time (Ollama answers, but slowly). "
            f"Retry in {retry} s; operators: GATEWAY_UPSTREAM_MAX_CONNECTIONS sets the limit.",
            retry_after=retry,
            code="server_busy",
        )

    def error_for(self, status: int, raw: bytes, model: str | None) -> GatewayError:
        """Map an Ollama error status and body to the gateway's error."""
        message = error_message(raw)
        retry = self.settings.retry_after_seconds
        if status == 404 and model and "not found" in message:
            if self.settings.is_expected(model):
                return ServiceUnavailable(
                    f"{model} is still downloading — see `docker compose logs -f ollama`. "
                    f"Retry in a minute.",
                    retry_after=max(retry, 30),
                    code="model_not_ready",
                )
            return NotFound(
                f"The model '{model}' does not exist on this server. "
                "GET /v1/models lists the models you can use.",
                code="model_not_found",
                param="model",
            )
        if status == 503 or BUSY_MARKER in message:
            return ServiceUnavailable(
                f"Ollama is busy (its queue is full). Retry in {retry} s.",
                retry_after=retry,
                code="server_busy",
            )
        if (400 <= status < 500 or status in (500, 501)) and (
            capability := missing_capability(message)
        ):
            return capability_error(
                capability, model, embeddings_model=self.settings.embeddings_model
            )
        if (schema_error := late_schema_error(message)) is not None:
            return schema_error
        if 400 <= status < 500:
            return InvalidRequest(f"Ollama rejected the request: {message}")
        if message.startswith(TOOL_PARSE_MARKER):
            return invalid_tool_call(message)
        return UpstreamError(
            f"Ollama failed to answer: {message}. Retry the request; if it keeps failing, "
            "operators should check `docker compose logs ollama`."
        )


def invalid_tool_call(message: str) -> ModelOutputInvalid:
    """The 502 for a tool call the model wrote and Ollama could not parse (``message``).

    Ollama sends it in place of its final chunk when the arguments are not valid JSON: the model
    wrote them wrong, or the token limit cut them. Nothing is wrong with Ollama or the gateway.
    """
    shown = message[:MAX_SHOWN_MODEL_ERROR] + ("…" if len(message) > MAX_SHOWN_MODEL_ERROR else "")
    return ModelOutputInvalid(
        "The model produced an invalid tool call (its arguments are not valid JSON; Ollama: "
        f"{shown}). Retrying the request may produce a valid one. If the call was cut short, "
        "raise max_tokens; a lower temperature makes malformed arguments less likely."
    )


def error_message(raw: bytes) -> str:
    """The text of Ollama's ``{"error": "..."}`` body, or the raw text when it is not JSON."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace").strip()[:500] or "no details"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return raw.decode(errors="replace").strip()[:500]
