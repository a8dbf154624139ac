"""Fixtures of the e2e suite: one compose stack per session, driven only through nginx.

The stack is always torn down; when a test (or the start-up) fails, every service's logs are
attached to the failure report.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator, Iterator

import httpx
import openai
import pytest

from tests.e2e.stack import Stack, StackSettings, build_fake_ollama_image, wait_until

STACK_KEY = pytest.StashKey[Stack]()
MEASUREMENTS_KEY = pytest.StashKey[list[tuple[str, str]]]()
# The running Swarm stack's logs (test_swarm_stack.py), attached to its failures like compose's.
SWARM_LOGS_KEY = pytest.StashKey[Callable[[], str]]()


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    """How the session's stack is configured."""
    return StackSettings()


@pytest.fixture(scope="session")
def stack(
    request: pytest.FixtureRequest,
    stack_settings: StackSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The whole stack (fake Ollama under the real entrypoint), up and healthy; down at the end."""
    build_fake_ollama_image()
    env_file = stack_settings.write_env_file(tmp_path_factory.mktemp("compose") / "e2e.env")
    running = Stack(stack_settings, env_file)
    try:
        running.start()
    except subprocess.CalledProcessError as exc:
        logs = running.logs()
        running.stop()
        pytest.fail(f"the stack did not come up: {exc.stderr.decode(errors='replace')}\n{logs}")
    request.config.stash[STACK_KEY] = running
    try:
        yield running
    finally:
        del request.config.stash[STACK_KEY]
        running.stop()


@pytest.fixture(scope="session")
def ready_stack(stack: Stack, stack_settings: StackSettings) -> Stack:
    """The stack once the start-up model download has finished (chat answers 200)."""

    def chat_works() -> bool | None:
        response = chat_request(stack, stack_settings)
        return True if response.status_code == 200 else None

    wait_until(chat_works, timeout=90, what="the first model download to finish")
    return stack


@pytest.fixture
def client(ready_stack: Stack, stack_settings: StackSettings) -> Iterator[openai.OpenAI]:
    """The official OpenAI SDK pointed at nginx with a valid key (no retries: we test behaviour)."""
    with openai.OpenAI(
        base_url=f"{ready_stack.base_url}/v1",
        api_key=stack_settings.api_key,
        max_retries=0,
        timeout=60,
    ) as sdk:
        yield sdk


def chat_request(stack: Stack, settings: StackSettings, timeout: float = 30) -> httpx.Response:
    """One small non-streaming chat completion through nginx (raw HTTP, any status)."""
    body = {"model": settings.model, "messages": [{"role": "user", "content": "ping"}]}
    headers = {"Authorization": f"Bearer {settings.api_key}"}
    try:
        return httpx.post(
            f"{stack.base_url}/v1/chat/completions", json=body, headers=headers, timeout=timeout
        )
    except httpx.TransportError as exc:
        # nginx itself restarting: report it like an unavailable service, the caller polls.
        return httpx.Response(599, text=f"transport error: {exc!r}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach every service's logs to the report of a failed e2e test (or failed stack start):
    the compose stack's, and the Swarm stack's while one is deployed."""
    report = yield
    running = item.config.stash.get(STACK_KEY, None)
    if report.failed and running is not None and item.get_closest_marker("e2e"):
        try:
            report.sections.append(("docker compose logs", running.logs()))
        except AssertionError as exc:  # the stack may be gone already
            report.sections.append(("docker compose logs", f"unavailable: {exc}"))
    swarm_logs = item.config.stash.get(SWARM_LOGS_KEY, None)
    if report.failed and swarm_logs is not None and item.get_closest_marker("e2e"):
        report.sections.append(("docker service logs", swarm_logs()))
    return report


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Note a measurement (what, value): listed under "e2e measurements" at the end of the run."""

    def note(what: str, value: str) -> None:
        note_measurement(request.config, what, value)

    return note


def note_measurement(config: pytest.Config, what: str, value: str) -> None:
    """Note a measurement from any fixture scope (``measured`` is per test)."""
    config.stash.setdefault(MEASUREMENTS_KEY, []).append((what, value))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print what the fault and soak tests measured (seconds to an error event, RSS, ...)."""
    notes = config.stash.get(MEASUREMENTS_KEY, [])
    if notes:
        terminalreporter.section("e2e measurements")
        for what, value in notes:
            terminalreporter.write_line(f"{what}: {value}")
