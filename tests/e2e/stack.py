"""The compose stack under test: the fake Ollama image, the env file, compose commands.

Everything the session changes goes through one env file (``--env-file``), so a developer's own
``.env`` never leaks into the test stack, and every compose command (ours and testcontainers')
addresses the same uniquely named project.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from testcontainers.compose import DockerCompose

from fake_ollama.testing import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ["docker-compose.yml", "tests/e2e/docker-compose.e2e.yml"]
SERVICES = ("ollama", "redis", "gateway", "nginx")
IMAGE_PREFIX = "gptoss-e2e"
FAKE_OLLAMA_IMAGE = f"{IMAGE_PREFIX}/fake-ollama:local"
DEFAULT_PYTHON_IMAGE = "python:3.11-slim-bookworm"
# Upper bound on one docker command (exec, kill, inspect) on a busy machine.
DOCKER_TIMEOUT = 120

T = TypeVar("T")


@dataclass(frozen=True)
class StackSettings:
    """What the test stack is configured with (one place; the env file is derived from it)."""

    api_key: str = "sk-e2e-" + "0123456789abcdef" * 2
    metrics_token: str = "e2e-metrics-token-0123456789"
    model: str = "gpt-oss:20b"
    # The fake's pull takes this long, so the "still downloading" window is observable.
    pull_seconds: float = 6.0
    # Tokens stream this far apart, so incremental delivery through nginx is measurable.
    token_delay: float = 0.05
    content_tokens: int = 24
    # The fake's ``slow`` fault (model ``fault-slow``): long streams that still end, for the faults.
    slow_tokens: int = 200
    slow_token_delay: float = 0.05
    # Generations run side by side (real Ollama: OLLAMA_NUM_PARALLEL slots), so concurrent streams
    # and the soak's traffic do not queue behind each other.
    num_parallel: int = 16
    # Short enough that "Ollama slower than the timeout" answers 504 within seconds; far above what
    # the fake needs to start answering, even on a busy machine.
    first_byte_timeout: float = 5.0
    # The time cap: a non-streamed answer (asked from Ollama in one piece) that hangs gets its 504
    # after first_byte_timeout + this; far above the longest answer the tests ask for (~10 s).
    max_generation_seconds: float = 30.0
    # What the gateway does while Redis is down (README "Rate limits"); the fault test follows it.
    ratelimit_fail_open: bool = True
    max_body_bytes: int = 1024 * 1024
    # A web app on the host whose pages may call the stack from a browser (test_browser.py).
    web_app_origin: str = field(default_factory=lambda: f"http://127.0.0.1:{free_port()}")
    project: str = field(default_factory=lambda: f"gptoss-e2e-{secrets.token_hex(4)}")

    def env(self, env_file: Path) -> dict[str, str]:
        """What compose reads from ``env_file`` (the image variables come from the environment)."""
        return {
            "COMPOSE_PROJECT_NAME": self.project,
            # The gateway's env_file: this file, never the developer's .env.
            "GATEWAY_ENV_FILE": str(env_file),
            "IMAGE_PREFIX": IMAGE_PREFIX,
            "FAKE_OLLAMA_IMAGE": FAKE_OLLAMA_IMAGE,
            "E2E_PULL_SECONDS": str(self.pull_seconds),
            "E2E_TOKEN_DELAY": str(self.token_delay),
            "E2E_CONTENT_TOKENS": str(self.content_tokens),
            "E2E_SLOW_TOKENS": str(self.slow_tokens),
            "E2E_SLOW_TOKEN_DELAY": str(self.slow_token_delay),
            "OLLAMA_MODELS": self.model,
            "OLLAMA_PULL_RETRY_SECONDS": "1",
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "GATEWAY_DEFAULT_MODEL": self.model,
            "GATEWAY_API_KEYS": self.api_key,
            "GATEWAY_METRICS_TOKEN": self.metrics_token,
            "GATEWAY_MAX_BODY_BYTES": str(self.max_body_bytes),
            "GATEWAY_FIRST_BYTE_TIMEOUT": str(self.first_byte_timeout),
            "GATEWAY_MAX_GENERATION_SECONDS": str(self.max_generation_seconds),
            "GATEWAY_RATELIMIT_FAIL_OPEN": str(self.ratelimit_fail_open).lower(),
            "GATEWAY_WORKERS": "2",
            "GATEWAY_CORS_ORIGINS": self.web_app_origin,
            "GATEWAY_LOG_LEVEL": "INFO",
        }

    def write_env_file(self, path: Path) -> Path:
        """Write :meth:`env` as a compose env file at ``path``."""
        path.write_text("".join(f"{key}={value}\n" for key, value in self.env(path).items()))
        return path


def build_fake_ollama_image() -> None:
    """Build the fake Ollama image (FROM ``$PYTHON_IMAGE``) that the override puts under ollama/."""
    python_image = os.environ.get("PYTHON_IMAGE", DEFAULT_PYTHON_IMAGE)
    command = [
        "docker",
        "build",
        "--build-arg",
        f"PYTHON_IMAGE={python_image}",
        "-t",
        FAKE_OLLAMA_IMAGE,
        str(REPO_ROOT / "tests" / "fake_ollama"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"building {FAKE_OLLAMA_IMAGE} failed (PYTHON_IMAGE={python_image}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.2
) -> T:
    """Call ``check`` until it returns something other than None; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Stack:
    """A running compose project: its URL through nginx and compose commands against it."""

    def __init__(self, settings: StackSettings, env_file: Path) -> None:
        self.settings = settings
        self.compose = DockerCompose(
            REPO_ROOT,
            compose_file_name=COMPOSE_FILES,
            env_file=str(env_file),
            build=True,
            wait=True,
            quiet_build=True,
        )

    def start(self) -> None:
        """``up --build --wait``: every service built, started and healthy."""
        self.compose.start()

    def stop(self) -> None:
        """``down --volumes``."""
        self.compose.stop(down=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of nginx (looked up each time: a restart may move it)."""
        ports = self.published_ports("nginx")
        host, port = ports["80/tcp"][0]
        return f"http://{host}:{port}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose <args>`` for this project and return the finished process."""
        command = [*self.compose.compose_command_property, *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(args)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def published_ports(self, service: str) -> dict[str, list[tuple[str, int]]]:
        """The host ports a service's container publishes: ``{"80/tcp": [(ip, port)], ...}``."""
        container_id = self.run("ps", "-q", service).stdout.strip()
        inspected = subprocess.run(
            ["docker", "inspect", container_id], capture_output=True, text=True, check=True
        )
        bindings = json.loads(inspected.stdout)[0]["NetworkSettings"]["Ports"] or {}
        return {
            port: [(b["HostIp"], int(b["HostPort"])) for b in published]
            for port, published in bindings.items()
            if published
        }

    def logs(self, *services: str, tail: int = 400) -> str:
        """The last ``tail`` log lines of the given services (all when none is given)."""
        result = self.run("logs", "--no-color", "--timestamps", f"--tail={tail}", *services)
        return result.stdout + result.stderr

    def container_id(self, service: str) -> str:
        """The id of the service's container (a stopped one too)."""
        container_id = self.run("ps", "--all", "-q", service).stdout.strip()
        if not container_id:
            raise AssertionError(f"the project has no {service} container")
        return container_id

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``docker <args>`` (``kill``, ``exec``, ``inspect`` of this project's containers)."""
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=DOCKER_TIMEOUT
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`docker {' '.join(args)}` failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the service's running container (``docker exec``)."""
        return self.docker("exec", self.container_id(service), *command)

    def state(self, service: str) -> dict[str, Any]:
        """``State`` of the service's container from ``docker inspect`` (``StartedAt``, ...)."""
        inspected = self.docker("inspect", self.container_id(service)).stdout
        state: dict[str, Any] = json.loads(inspected)[0]["State"]
        return state

    def create_key(self, name: str, *options: str) -> str:
        """A new API key made by ``gateway keys create`` in the gateway container (shown once).

        Every worker loads it from the key file within about a second.
        """
        return self.exec(
            "gateway", "gateway", "keys", "create", "--name", name, *options
        ).stdout.strip()
