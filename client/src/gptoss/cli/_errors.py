"""Turning an exception into what happened and what to do about it, for people at a terminal."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from .._config import ClientConfig
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
)

_DOWNLOADING_WORDS = ("download", "pulling", "pull ")


@dataclass(frozen=True)
class Explanation:
    """One sentence on what happened, one on what to do."""

    what: str
    hint: str


def _wait(seconds: float | None) -> str:
    if seconds is None:
        return "in a little while"
    return f"in {max(1, round(seconds))} s"


def _explain_status(error: APIStatusError, config: ClientConfig) -> Explanation:
    said = error.message
    if isinstance(error, AuthenticationError):
        if not config.api_key:
            return Explanation(
                "no API key was sent, and the gateway requires one",
                "set GPTOSS_API_KEY (or pass --api-key); an admin creates keys with "
                "`gateway keys create --name you`",
            )
        return Explanation(
            f"the gateway rejected the API key ({said})",
            "check GPTOSS_API_KEY / --api-key for typos, or ask an admin for a new key",
        )
    if isinstance(error, PermissionDeniedError):
        return Explanation(
            f"this key is not allowed to do that ({said})",
            "list what your key may use with `gptoss models` and pick one with --model",
        )
    if isinstance(error, NotFoundError):
        return Explanation(
            f"not found on the gateway ({said})",
            f"`gptoss models` lists the models available (asked for {config.model!r})",
        )
    if isinstance(error, RateLimitError):
        return Explanation(
            f"rate limited: {said}",
            f"wait and try again {_wait(error.retry_after)}, or ask an admin for a higher limit",
        )
    if isinstance(error, RequestTooLargeError):
        return Explanation(
            "the request is larger than the gateway accepts",
            "send less text (in `gptoss chat`, /reset starts a fresh, short conversation)",
        )
    if isinstance(error, ServiceUnavailableError):
        if any(word in said.lower() for word in _DOWNLOADING_WORDS):
            return Explanation(
                f"the model is still downloading ({said})",
                f"try again {_wait(error.retry_after)}; on the server, "
                "`docker compose logs -f ollama` shows the progress",
            )
        return Explanation(
            f"the model server is unavailable or busy ({said})",
            f"try again {_wait(error.retry_after)}; `gptoss health` shows which part is down",
        )
    if isinstance(error, GatewayTimeoutError):
        return Explanation(
            f"the model took too long to answer ({said})",
            "try a shorter prompt or a lower reasoning effort (--effort low)",
        )
    if isinstance(error, InternalServerError):
        return Explanation(
            f"the server failed ({error.status_code}: {said})",
            "try again; if it keeps failing, give an admin the request id below",
        )
    if isinstance(error, BadRequestError):
        return Explanation(
            f"the gateway refused the request ({said})", "check the options you passed"
        )
    return Explanation(f"the gateway answered {error.status_code}: {said}", "check the request")


def explain(error: APIError, config: ClientConfig) -> Explanation:
    """A short explanation of `error` and the next step, in the user's terms."""
    if isinstance(error, APIStatusError):
        return _explain_status(error, config)
    if isinstance(error, APITimeoutError):
        return Explanation(
            f"no answer in time: {error.message}",
            "raise the limit with --timeout SECONDS, or ask for less (--effort low)",
        )
    if isinstance(error, APIConnectionError):
        return Explanation(
            f"cannot reach the gateway at {config.base_url} ({error.message})",
            "check GPTOSS_BASE_URL / --base-url and that the stack is up (`make up`)",
        )
    if isinstance(error, APIStreamError):
        return Explanation(
            f"the answer was cut off by a server error ({error.message})",
            "try again; if it keeps happening, give an admin the request id below",
        )
    return Explanation(error.message, "try again")


def print_error(console: Console, error: APIError, config: ClientConfig) -> None:
    """Print the explanation (and the request id, when the server gave one) - never a traceback."""
    explanation = explain(error, config)
    console.print(Text.assemble(("error: ", "bold red"), explanation.what), soft_wrap=True)
    console.print(Text.assemble(("  what to do: ", "yellow"), explanation.hint), soft_wrap=True)
    if error.request_id:
        console.print(Text(f"  request id: {error.request_id}", style="dim"), soft_wrap=True)
