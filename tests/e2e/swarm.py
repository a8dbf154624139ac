"""docker-stack.yml on a single-node Docker Swarm: the engine's swarm mode, deploy, probes, removal.

The stack runs the images the e2e session builds (``IMAGE_PREFIX`` images, the fake Ollama under
ollama/), pinned by image id so that a concurrent ``make e2e`` retagging ``:local`` cannot swap
them under a running stack. Nothing is published on the host: the traffic is sent from inside the
nginx task to ``http://127.0.0.1`` (loopback of that container), and from there over the overlay
network to the gateway replicas.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.stack import (
    COMPOSE_FILES,
    DOCKER_TIMEOUT,
    IMAGE_PREFIX,
    REPO_ROOT,
    StackSettings,
    build_fake_ollama_image,
    wait_until,
)

STACK_FILES = ("docker-stack.yml", "tests/e2e/docker-stack.e2e.yml")
# The services built from this repository (compose names), run by the stack.
BUILT_SERVICES = ("ollama", "gateway", "nginx")
GATEWAY_REPLICAS = 2
# Generous bounds for a busy machine (another e2e session may share the daemon).
DEPLOY_TIMEOUT = 180.0
REMOVE_TIMEOUT = 120.0
CURL_TIMEOUT = 30
# The bridge that connects swarm tasks to the host; created with the first task, kept by `leave`.
GWBRIDGE = "docker_gwbridge"
# How the stack file names the image prefix (``${IMAGE_PREFIX:-gptoss}/gateway:local``).
IMAGE_VARIABLE = re.compile(r"\$\{IMAGE_PREFIX[^}]*\}")


def docker(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``docker <args>`` and return its stdout; fail with its output when it fails."""
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=DOCKER_TIMEOUT,
        env=env,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`docker {' '.join(args)}` failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def swarm_state() -> str:
    """``inactive``, ``active``, ``pending``, ... (``docker info``'s ``Swarm.LocalNodeState``)."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def join_swarm() -> bool:
    """Make the engine a single-node swarm manager unless it is one; True when this call made it."""
    state = swarm_state()
    if state == "inactive":
        result = subprocess.run(
            ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"],
            capture_output=True,
            text=True,
            check=False,
            timeout=DOCKER_TIMEOUT,
        )
        if result.returncode == 0:
            return True
        # Another session may have made it a swarm at the same moment: use that one.
        if "already part of a swarm" not in result.stderr:
            raise AssertionError(f"`docker swarm init` failed:\n{result.stdout}{result.stderr}")
        state = swarm_state()
    control = docker("info", "--format", "{{.Swarm.ControlAvailable}}").strip()
    if state != "active" or control != "true":
        raise AssertionError(
            f"the engine's swarm is {state!r} (manager: {control}): the test needs a manager"
        )
    return False


def network_exists(name: str) -> bool:
    """Whether the engine has a network of that name."""
    names = docker("network", "ls", "--filter", f"name=^{name}$", "--format", "{{.Name}}")
    return name in names.split()


def leave_swarm_if_unused(*, remove_gwbridge: bool) -> None:
    """``docker swarm leave --force``, unless services (of another session) still run on it; with
    ``remove_gwbridge``, also the ``docker_gwbridge`` network the swarm's tasks made."""
    if docker("service", "ls", "-q").strip():
        return
    docker("swarm", "leave", "--force")
    if remove_gwbridge and network_exists(GWBRIDGE):
        attached = docker("network", "inspect", "--format", "{{len .Containers}}", GWBRIDGE)
        if attached.strip() == "0":
            docker("network", "rm", GWBRIDGE)


def build_images(settings: StackSettings, env_file: Path) -> None:
    """Build the fake Ollama and the stack's images as the compose session does (cached layers)."""
    build_fake_ollama_image()
    compose = ["compose", *(f"--file={name}" for name in COMPOSE_FILES)]
    env = {**os.environ, **settings.env(env_file)}
    result = subprocess.run(
        ["docker", *compose, f"--env-file={env_file}", "build", "--quiet", *BUILT_SERVICES],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"building {', '.join(BUILT_SERVICES)} failed:\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )


def image_id(reference: str) -> str:
    """The ``sha256:`` id of a local image."""
    return docker("image", "inspect", "--format", "{{.Id}}", reference).strip()


class SwarmStack:
    """One deployed stack: its services, tasks, containers; requests sent from inside nginx."""

    def __init__(self, settings: StackSettings, env_file: Path, keys_file: Path) -> None:
        self.settings = settings
        self.env_file = env_file
        self.keys_file = keys_file
        self.name = f"gptoss-swarm-{secrets.token_hex(4)}"

    def service(self, name: str) -> str:
        """The Swarm name of a stack service (``<stack>_<name>``)."""
        return f"{self.name}_{name}"

    def environment(self) -> dict[str, str]:
        """What ``docker stack deploy`` interpolates the stack file with."""
        return {
            **os.environ,
            **self.settings.env(self.env_file),
            "GATEWAY_KEYS_SECRET_FILE": str(self.keys_file),
            "GATEWAY_REPLICAS": str(GATEWAY_REPLICAS),
        }

    def stack_file(self, directory: Path) -> Path:
        """docker-stack.yml with the e2e override merged in, as one file to deploy.

        Merged here rather than with a second ``-c``: nginx must publish nothing, and the stack
        file format merges ``ports`` lists, it cannot empty one (``docker stack config`` would
        show the merge, but the Debian 20.10 client does not have it). The images built here are
        pinned by id.
        """
        base, override = (yaml.safe_load((REPO_ROOT / name).read_text()) for name in STACK_FILES)
        merged = merge(base, override)
        merged["services"]["nginx"].pop("ports")
        for service in merged["services"].values():
            image = IMAGE_VARIABLE.sub(IMAGE_PREFIX, service["image"])
            if image.startswith(f"{IMAGE_PREFIX}/"):
                service["image"] = image_id(image)
        path = directory / f"{self.name}.yml"
        path.write_text(yaml.safe_dump(merged, sort_keys=False))
        return path

    def deploy(self, directory: Path) -> None:
        """``docker stack deploy`` (local images only), then wait until Redis, both Ollama
        services and every gateway replica are healthy, then start nginx (it resolves the
        gateway replicas once, when it starts) and wait until it is healthy too."""
        stack_file = self.stack_file(directory)
        docker(
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "--compose-file",
            str(stack_file),
            self.name,
            env=self.environment(),
        )
        for service, replicas in (
            ("redis", 1),
            ("ollama-0", 1),
            ("ollama-1", 1),
            ("gateway", GATEWAY_REPLICAS),
        ):
            self.wait_healthy(service, replicas)
        docker("service", "scale", "--detach", f"{self.service('nginx')}=1")
        self.wait_healthy("nginx", 1)

    def containers(self, service: str, *filters: str) -> list[str]:
        """Ids of the service's running containers (plus extra ``docker ps`` filters)."""
        label = f"label=com.docker.swarm.service.name={self.service(service)}"
        args = [arg for f in (label, *filters) for arg in ("--filter", f)]
        return docker("ps", "--quiet", *args).split()

    def wait_healthy(self, service: str, replicas: int) -> list[str]:
        """Wait until exactly ``replicas`` containers of ``service`` run and are healthy."""

        def healthy() -> list[str] | None:
            ids = self.containers(service, "health=healthy")
            return ids if len(ids) == replicas else None

        return wait_until(
            healthy, timeout=DEPLOY_TIMEOUT, what=f"{replicas} healthy {service}", every=0.5
        )

    def running_tasks(self, service: str) -> list[str]:
        """``docker service ps``: the current state of each task Swarm wants running."""
        out = docker(
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Name}} {{.CurrentState}}",
            self.service(service),
        )
        return [line for line in out.splitlines() if line.split()[1:2] == ["Running"]]

    def published_ports(self, service: str) -> list[Any]:
        """The host ports a service publishes (its Swarm endpoint's ``Ports``; none: ``[]``)."""
        out = docker(
            "service", "inspect", "--format", "{{json .Endpoint.Ports}}", self.service(service)
        )
        ports: list[Any] = json.loads(out) or []
        return ports

    def scale(self, service: str, replicas: int) -> None:
        """``docker service scale`` and wait until the service has that many containers."""
        docker("service", "scale", "--detach", f"{self.service(service)}={replicas}")

        def converged() -> bool | None:
            return True if len(self.containers(service, "status=running")) == replicas else None

        wait_until(converged, timeout=DEPLOY_TIMEOUT, what=f"{service} scaled to {replicas}")

    def exec_in_nginx(self, script: str) -> str:
        """Run a shell script in the nginx task's container; its stdout."""
        (nginx,) = self.containers("nginx")
        return docker("exec", nginx, "sh", "-c", script)

    def chats(self, key: str, count: int) -> list[tuple[int, str]]:
        """``count`` chat completions one after another, sent with curl from inside the nginx
        container to its own loopback: (status, body) of each (status 0: curl got no answer)."""
        body = json.dumps(
            {"model": self.settings.model, "messages": [{"role": "user", "content": "ping"}]}
        )
        script = (
            f"for i in $(seq {count}); do "
            f"curl -sS -m {CURL_TIMEOUT} -o /tmp/answer -w '%{{http_code}}' "
            f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f"--data-raw '{body}' http://127.0.0.1/v1/chat/completions; "
            # One line each: the status, a tab, the body on one line.
            "printf '\\t'; tr -d '\\n' < /tmp/answer; echo; done"
        )
        answers = []
        for line in self.exec_in_nginx(script).splitlines():
            status, _, text = line.partition("\t")
            answers.append((int(status or 0), text))
        return answers

    def gateway_metric(self, name: str) -> dict[str, float]:
        """One metric's samples summed over every gateway replica (each scraped directly, from
        nginx's container): ``{label set: value}``."""
        token = self.settings.metrics_token
        script = (
            "for ip in $(getent ahostsv4 gateway | awk '{print $1}' | sort -u); do "
            f"curl -fsS -m {CURL_TIMEOUT} -H 'Authorization: Bearer {token}' "
            "http://$ip:8000/metrics; done"
        )
        samples: Counter[str] = Counter()
        for line in self.exec_in_nginx(script).splitlines():
            series, _, value = line.rpartition(" ")
            if series == name or series.startswith(name + "{"):
                samples[series.removeprefix(name)] += float(value)
        return dict(samples)

    def access_log_counts(self, key_name: str) -> Counter[str]:
        """Chat completions the gateway logged for key ``key_name``, per gateway container."""
        counts: Counter[str] = Counter()
        for container in self.containers("gateway"):
            result = subprocess.run(
                ["docker", "logs", container],
                capture_output=True,
                text=True,
                check=True,
                timeout=DOCKER_TIMEOUT,
            )
            counts[container] = sum(
                1
                for record in json_lines(result.stdout + result.stderr)
                if record.get("logger") == "gateway.access"
                and record.get("route") == "/v1/chat/completions"
                and record.get("key") == key_name
            )
        return counts

    def backend_chats(self, service: str) -> int:
        """``/api/chat`` requests the fake Ollama of ``service`` logged (one stderr line each)."""
        total = 0
        for container in self.containers(service):
            result = subprocess.run(
                ["docker", "logs", container],
                capture_output=True,
                text=True,
                check=True,
                timeout=DOCKER_TIMEOUT,
            )
            lines = (result.stdout + result.stderr).splitlines()
            total += sum(1 for line in lines if line.startswith("POST /api/chat "))
        return total

    def load_model(self, service: str) -> None:
        """Load the model on one Ollama service (an empty ``/api/generate``, sent from nginx's
        container over the overlay network), so the gateway counts that backend as warm."""
        body = json.dumps({"model": self.settings.model, "keep_alive": "24h"})
        self.exec_in_nginx(
            f"curl -fsS -m {CURL_TIMEOUT} -o /dev/null --data-raw '{body}' "
            f"http://{service}:11434/api/generate"
        )

    def logs(self) -> str:
        """The last lines of every service's logs (attached to a failure report)."""
        parts = []
        for service in ("ollama-0", "ollama-1", "redis", "gateway", "nginx"):
            result = subprocess.run(
                [
                    "docker",
                    "service",
                    "logs",
                    "--no-task-ids",
                    "--tail",
                    "200",
                    "--timestamps",
                    self.service(service),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=DOCKER_TIMEOUT,
            )
            parts.append(f"== {service}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    def remove(self) -> None:
        """``docker stack rm``; wait until its containers and network are gone; drop its volumes."""
        docker("stack", "rm", self.name)
        label = f"label=com.docker.stack.namespace={self.name}"

        def gone() -> bool | None:
            containers = docker("ps", "--all", "--quiet", "--filter", label).split()
            networks = docker("network", "ls", "--quiet", "--filter", label).split()
            return True if not containers and not networks else None

        wait_until(gone, timeout=REMOVE_TIMEOUT, what=f"stack {self.name} removed", every=0.5)
        volumes = docker("volume", "ls", "--quiet", "--filter", label).split()
        if volumes:
            docker("volume", "rm", *volumes)


def merge(base: Any, override: Any) -> Any:
    """``override`` merged into ``base`` like a stack file override: mappings key by key (new
    objects: YAML anchors share theirs), anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def json_lines(text: str) -> Iterable[dict[str, Any]]:
    """The JSON objects among ``text``'s lines (the gateway logs one per line)."""
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
