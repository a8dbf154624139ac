"""Turning an exception into what happened and what to do about it, for people at a terminal."""

from __future__ import annotations

from collections.abc import Callable
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


def _always(error: APIStatusError, config: ClientConfig) -> bool:
    return True


def _without_key(error: APIStatusError, config: ClientConfig) -> bool:
    return not config.api_key


def _downloading(error: APIStatusError, config: ClientConfig) -> bool:
    return any(word in error.message.lower() for word in _DOWNLOADING_WORDS)


@dataclass(frozen=True)
class _Rule:
    """Explains errors of class `kind` for which `when` holds.

    `what` and `hint` are `str.format` templates with `said` (the server's message), `status`,
    `wait` ("in 5 s") and `model` (the configured one).
    """

    kind: type[APIStatusError]
    what: str
    hint: str
    when: Callable[[APIStatusError, ClientConfig], bool] = _always


#: The first rule that matches wins: special cases first, subclasses before their parents.
_STATUS_RULES = (
    _Rule(
        AuthenticationError,
        "no API key was sent, and the gateway requires one",
        "set GPTOSS_API_KEY (or pass --api-key); an admin creates keys with "
        "`gateway keys create --name you`",
        when=_without_key,
    ),
    _Rule(
        AuthenticationError,
        "the gateway rejected the API key ({said})",
        "check GPTOSS_API_KEY / --api-key for typos, or ask an admin for a new key",
    ),
    _Rule(
        PermissionDeniedError,
        "this key is not allowed to do that ({said})",
        "list what your key may use with `gptoss models` and pick one with --model",
    ),
    _Rule(
        NotFoundError,
        "not found on the gateway ({said})",
        "`gptoss models` lists the models available (asked for {model!r})",
    ),
    _Rule(
        RateLimitError,
        "rate limited: {said}",
        "wait and try again {wait}, or ask an admin for a higher limit",
    ),
    _Rule(
        RequestTooLargeError,
        "the request is larger than the gateway accepts",
        "send less text (in `gptoss chat`, /reset starts a fresh, short conversation)",
    ),
    _Rule(
        ServiceUnavailableError,
        "the model is still downloading ({said})",
        "try again {wait}; on the server, `docker compose logs -f ollama` shows the progress",
        when=_downloading,
    ),
    _Rule(
        ServiceUnavailableError,
        "the model server is unavailable or busy ({said})",
        "try again {wait}; `gptoss health` shows which part is down",
    ),
    _Rule(
        GatewayTimeoutError,
        "the model took too long to answer ({said})",
        "try a shorter prompt or a lower reasoning effort (--effort low)",
    ),
    _Rule(
        InternalServerError,
        "the server failed ({status}: {said})",
        "try again; if it keeps failing, give an admin the request id below",
    ),
    _Rule(
        BadRequestError, "the gateway refused the request ({said})", "check the options you passed"
    ),
    _Rule(APIStatusError, "the gateway answered {status}: {said}", "check the request"),
)


def _explain_status(error: APIStatusError, config: ClientConfig) -> Explanation:
    fields = {
        "said": error.message,
        "status": error.status_code,
        "wait": _wait(error.retry_after),
        "model": config.model,
    }
    rule = next(r for r in _STATUS_RULES if isinstance(error, r.kind) and r.when(error, config))
    return Explanation(rule.what.format(**fields), rule.hint.format(**fields))


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
