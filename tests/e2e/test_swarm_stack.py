"""docker-stack.yml deployed for real on a single-node Docker Swarm (issue #15).

Two fake Ollama services (ollama-0, ollama-1), Redis, two gateway replicas and nginx, on the
stack's overlay network, nothing published on the host. Every request is sent with curl from
inside the nginx task to its own loopback, so it crosses nginx and the overlay network exactly as
a client's would. Proven here: a chat answers through nginx; the gateway runs 2 replicas; the
per-key rate limit is exact across both replicas (Redis is shared); with ollama-1 scaled to 0
every chat still succeeds on ollama-0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import SWARM_LOGS_KEY, note_measurement
from tests.e2e.stack import StackSettings, wait_until
from tests.e2e.swarm import (
    GATEWAY_REPLICAS,
    GWBRIDGE,
    SwarmStack,
    build_images,
    join_swarm,
    leave_swarm_if_unused,
    network_exists,
)

pytestmark = pytest.mark.e2e

RATE_LIMITED_KEY = "swarm"
RPM = 10
FAILOVER_KEY = "swarm-failover"
FAKE_ANSWER = "Fake answer to: ping"
BACKENDS = ("ollama-0", "ollama-1")


def create_key(keys_file: Path, name: str, *options: str) -> str:
    """A key made by the gateway CLI (``gateway keys create``) in ``keys_file``; the key."""
    cli = Path(sys.executable).with_name("gateway")
    result = subprocess.run(
        [str(cli), "keys", "create", "--name", name, *options],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GATEWAY_KEYS_FILE": str(keys_file)},
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def swarm_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """keys.json (the ``gateway_keys`` secret) with a 10-rpm key and an unlimited one."""
    keys_file = tmp_path_factory.mktemp("swarm-keys") / "keys.json"
    keys = {
        RATE_LIMITED_KEY: create_key(keys_file, RATE_LIMITED_KEY, "--rpm", str(RPM)),
        FAILOVER_KEY: create_key(
            keys_file, FAILOVER_KEY, "--rpm", "0", "--tpm", "0", "--max-concurrent", "0"
        ),
    }
    return keys_file, keys


@pytest.fixture(scope="module")
def swarm_stack(
    request: pytest.FixtureRequest,
    stack_settings: StackSettings,
    swarm_keys: tuple[Path, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SwarmStack]:
    """The stack deployed and healthy on a swarm (made one if needed); removed at the end, and
    the swarm left again if this fixture made it."""

    def measured(what: str, value: str) -> None:
        note_measurement(request.config, what, value)

    directory = tmp_path_factory.mktemp("swarm")
    env_file = stack_settings.write_env_file(directory / "e2e.env")
    started = time.monotonic()
    build_images(stack_settings, env_file)
    built = time.monotonic()
    had_gwbridge = network_exists(GWBRIDGE)
    created_swarm = join_swarm()
    stack = SwarmStack(stack_settings, env_file, swarm_keys[0])
    request.config.stash[SWARM_LOGS_KEY] = stack.logs
    try:
        stack.deploy(directory)
        measured("swarm: images built (cached layers) in", f"{built - started:.1f} s")
        measured("swarm: deployed and healthy (nginx last) in", f"{time.monotonic() - built:.1f} s")
        yield stack
    finally:
        del request.config.stash[SWARM_LOGS_KEY]
        removing = time.monotonic()
        try:
            stack.remove()
            measured("swarm: stack removed in", f"{time.monotonic() - removing:.1f} s")
        finally:
            if created_swarm:
                leave_swarm_if_unused(remove_gwbridge=not had_gwbridge)


@pytest.fixture(scope="module")
def keys(swarm_keys: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """The keys in the stack's secret, by name."""
    return swarm_keys[1]


def test_chat_answers_through_nginx(swarm_stack: SwarmStack, keys: dict[str, str]) -> None:
    def answered() -> tuple[int, str] | None:
        (answer,) = swarm_stack.chats(keys[FAILOVER_KEY], 1)
        return answer if answer[0] == 200 else None

    # Healthy services can still be settling (the gateway reads the backends' model lists).
    status, body = wait_until(answered, timeout=60, what="a 200 chat through nginx", every=1)
    assert status == 200
    assert FAKE_ANSWER in body


def test_gateway_runs_two_replicas(swarm_stack: SwarmStack) -> None:
    tasks = swarm_stack.running_tasks("gateway")
    assert len(tasks) == GATEWAY_REPLICAS, tasks
    # nginx resolved every replica when it started (dnsrr: one address per task).
    addresses = swarm_stack.exec_in_nginx("getent ahostsv4 gateway | awk '{print $1}' | sort -u")
    assert len(addresses.split()) == GATEWAY_REPLICAS, addresses


def test_nothing_is_published_on_the_host(swarm_stack: SwarmStack) -> None:
    for service in ("ollama-0", "ollama-1", "redis", "gateway", "nginx"):
        assert swarm_stack.published_ports(service) == [], service


def test_rate_limit_is_exact_across_replicas(
    swarm_stack: SwarmStack, keys: dict[str, str], measured: Callable[[str, str], None]
) -> None:
    # nginx takes turns between the replicas: both count this key's requests, in one Redis.
    statuses = [status for status, _ in swarm_stack.chats(keys[RATE_LIMITED_KEY], 2 * RPM)]
    assert statuses.count(200) == RPM, statuses
    assert statuses.count(429) == RPM, statuses

    def logged_by_both() -> dict[str, int] | None:
        counts = swarm_stack.access_log_counts(RATE_LIMITED_KEY)
        return dict(counts) if sum(counts.values()) == 2 * RPM else None

    per_replica = wait_until(logged_by_both, timeout=30, what="the gateways' access log lines")
    assert len(per_replica) == GATEWAY_REPLICAS
    assert all(count > 0 for count in per_replica.values()), per_replica
    measured("swarm: 20 requests of a 10-rpm key per gateway replica", str(per_replica))


def test_chats_keep_succeeding_without_one_backend(
    swarm_stack: SwarmStack, keys: dict[str, str], measured: Callable[[str, str], None]
) -> None:
    # Both backends warm (the gateway prefers backends that have the model loaded), then traffic
    # until each has served chats: ollama-1 is really in use when it goes away.
    for backend in BACKENDS:
        swarm_stack.load_model(backend)

    def both_serve() -> dict[str, int] | None:
        answers = swarm_stack.chats(keys[FAILOVER_KEY], 4)
        assert [status for status, _ in answers] == [200] * 4, answers
        served = {backend: swarm_stack.backend_chats(backend) for backend in BACKENDS}
        return served if all(served.values()) else None

    before = wait_until(both_serve, timeout=60, what="chats on both Ollama backends", every=0)
    swarm_stack.scale("ollama-1", 0)
    started = time.monotonic()
    answers = swarm_stack.chats(keys[FAILOVER_KEY], 20)
    elapsed = time.monotonic() - started
    failed = [(status, body) for status, body in answers if status != 200]
    assert len(answers) == 20
    assert failed == []
    assert all(FAKE_ANSWER in body for _, body in answers)
    assert swarm_stack.backend_chats("ollama-0") == before["ollama-0"] + 20
    measured(
        "swarm: chats per backend before ollama-1 was scaled to 0",
        str(before),
    )
    measured("swarm: 20 chats with ollama-1 scaled to 0", f"0 failed, {elapsed:.1f} s")
    for metric in (
        "gateway_backend_failures_total",
        "gateway_backend_ejections_total",
        "gateway_backend_retries_total",
    ):
        measured(f"swarm: {metric}", str(swarm_stack.gateway_metric(metric)))
