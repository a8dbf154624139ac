"""`gptoss health`: checks a deployment end to end, one line per component, red or green.

nginx (its own `/nginx-health`; skipped when the URL is the gateway itself) → gateway
reachable → key accepted → gateway ready (and each component it reports, Ollama
included) → the model present → a one-token generation. A check that cannot run because an
earlier one failed is shown as skipped; any failure makes the exit code non-zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.text import Text

from .._client import Client
from .._config import server_root
from .._exceptions import APIError
from .._types import ComponentHealth, HealthReport, Model
from ._errors import explain

Status = Literal["ok", "fail", "skip"]

MODEL_CHECK = "your model"  # the gateway's readiness has its own "model" (the default model)
_MARKS = {"ok": ("✓", "green"), "fail": ("✗", "red"), "skip": ("-", "dim")}


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    status: Status
    detail: str
    hint: str = ""


def _failed(name: str, error: APIError, client: Client) -> Check:
    explanation = explain(error, client.config)
    return Check(name, "fail", explanation.what, explanation.hint)


def _skipped(*names: str, reason: str) -> list[Check]:
    return [Check(name, "skip", f"not checked: {reason}") for name in names]


def _readiness(report: HealthReport) -> list[Check]:
    """The gateway's verdict, then one line per component (whose detail already says what to do)."""
    if report.ready:
        checks = [Check("ready", "ok", "the gateway is ready")]
    else:
        hint = "the lines below say which part is down; else see `docker compose logs gateway`"
        checks = [Check("ready", "fail", "the gateway is not ready", hint)]
    return checks + [_component(component) for component in report.components]


def _component(component: ComponentHealth) -> Check:
    return Check(component.name, "ok" if component.ok else "fail", component.detail)


def _model_check(client: Client, models: list[Model]) -> Check:
    names = [model.id for model in models]
    if client.model in names:
        return Check(MODEL_CHECK, "ok", f"{client.model} is available to this key")
    return Check(
        MODEL_CHECK,
        "fail",
        f"{client.model} is not among the models of this key ({', '.join(names) or 'none'})",
        "if it is still downloading, wait (`docker compose logs -f ollama`); "
        "else choose one with --model",
    )


def _generation_check(client: Client) -> Check:
    started = time.monotonic()
    try:
        result = client.chat("Reply with OK.", max_tokens=1, reasoning_effort="low")
    except APIError as error:
        return _failed("generation", error, client)
    tokens = result.usage.completion_tokens if result.usage else 0
    elapsed = time.monotonic() - started
    return Check("generation", "ok", f"generated {tokens} token(s) in {elapsed:.1f} s")


def _proxy_check(client: Client) -> Check:
    """nginx answers its own health location (404 there: no nginx in front, talking directly)."""
    try:
        status = client.proxy_status()
    except APIError as error:
        return _failed("nginx", error, client)
    if status == 404:
        return Check("nginx", "skip", "no nginx in front (this URL is the gateway itself)")
    return Check("nginx", "ok", f"answers at {server_root(client.base_url)}")


def run_checks(client: Client) -> list[Check]:
    """Every check, in order; stops asking the server things that cannot work any more."""
    proxy = _proxy_check(client)
    if proxy.status == "fail":
        return [
            proxy,
            *_skipped(
                "gateway", "api key", "ready", MODEL_CHECK, "generation", reason="nginx unreachable"
            ),
        ]
    checks = [proxy]
    try:
        report = client.health()
    except APIError as error:
        return [
            *checks,
            _failed("gateway", error, client),
            *_skipped("api key", "ready", MODEL_CHECK, "generation", reason="gateway unreachable"),
        ]
    checks.append(Check("gateway", "ok", f"reachable at {client.base_url}"))
    try:
        models = client.models()
    except APIError as error:
        checks.append(_failed("api key", error, client))
        checks += _readiness(report)
        return checks + _skipped(MODEL_CHECK, "generation", reason="the key was not accepted")
    checks.append(Check("api key", "ok", "accepted"))
    checks += _readiness(report)
    model = _model_check(client, models)
    checks.append(model)
    if model.status != "ok":
        return checks + _skipped("generation", reason="the model is not available")
    checks.append(_generation_check(client))
    return checks


def print_checks(console: Console, checks: list[Check]) -> bool:
    """One line per check (and a hint under each failure); True when nothing failed."""
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark, style = _MARKS[check.status]
        line = Text.assemble((f"{mark} {check.name:<{width}} ", style), check.detail)
        console.print(line, soft_wrap=True)
        if check.hint:
            console.print(Text(f"  {'':<{width}} → {check.hint}", style="yellow"), soft_wrap=True)
    return all(check.status != "fail" for check in checks)
