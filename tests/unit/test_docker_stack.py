"""docker-stack.yml: what `docker stack deploy` on the Debian docker.io 20.10 engine accepts, and
the shape the several-backend gateway needs (checked with `docker stack config`, no swarm)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO_ROOT

# Service keys `docker stack deploy` (20.10) refuses, or accepts and drops without a word.
REFUSED_OR_DROPPED = {"build", "pull_policy", "profiles", "depends_on", "tmpfs", "expose"}
REFUSED_OR_DROPPED |= {"restart"}


def stack_config(tmp_path: Path, *files: str) -> dict[str, Any]:
    """``docker stack config`` of ``files`` with the documented defaults (.env.example)."""
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"version": 1, "keys": []}))
    command = ["docker", "stack", "config"]
    for name in files:
        command += ["-c", name]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "GATEWAY_ENV_FILE": ".env.example",
        "GATEWAY_KEYS_SECRET_FILE": str(keys),
    }
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Ignoring unsupported options" not in result.stderr, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture
def services(tmp_path: Path) -> dict[str, Any]:
    """The services of the stack with the GPU and TLS overrides."""
    files = ("docker-stack.yml", "docker-stack.gpu.yml", "docker-stack.tls.yml")
    parsed: dict[str, Any] = stack_config(tmp_path, *files)["services"]
    return parsed


def test_every_service_avoids_keys_swarm_refuses_or_drops(services: dict[str, Any]) -> None:
    raw = yaml.safe_load((REPO_ROOT / "docker-stack.yml").read_text())
    assert raw["version"] == "3.9", "20.10 reads a file without version as 1.0"
    assert "name" not in raw
    for name, service in raw["services"].items():
        assert not REFUSED_OR_DROPPED & set(service), name
    assert set(services) == {"ollama-0", "ollama-1", "redis", "gateway", "nginx"}


def test_no_service_needs_virtual_ips(services: dict[str, Any]) -> None:
    assert {name: s["deploy"]["endpoint_mode"] for name, s in services.items()} == dict.fromkeys(
        services, "dnsrr"
    )
    ports = services["nginx"]["ports"]
    assert {(p["target"], p["mode"]) for p in ports} == {(80, "host"), (443, "host")}
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]


def test_the_gateway_replicas_share_redis_and_route_over_every_ollama(
    services: dict[str, Any],
) -> None:
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] >= 2
    env = gateway["environment"]
    assert env["GATEWAY_RATELIMIT_STORAGE"] == "redis://redis:6379/0"
    ollamas = sorted(name for name in services if name.startswith("ollama-"))
    assert env["GATEWAY_OLLAMA_URLS"].split(",") == [f"http://{n}:11434" for n in ollamas]
    assert env["GATEWAY_OLLAMA_PARALLEL"].isdigit()
    assert env["GATEWAY_KEYS_FILE"] == "/run/secrets/gateway_keys"
    assert [s["source"] for s in gateway["secrets"]] == ["gateway_keys"]
    tmp = [v for v in gateway["volumes"] if v["target"] == "/tmp"]
    assert tmp[0]["type"] == "tmpfs", "the read-only gateway needs a writable /tmp"


def test_each_ollama_claims_one_gpu_on_a_gpu_node(services: dict[str, Any]) -> None:
    for name in ("ollama-0", "ollama-1"):
        deploy = services[name]["deploy"]
        claims = deploy["resources"]["reservations"]["generic_resources"]
        assert claims == [{"discrete_resource_spec": {"kind": "NVIDIA-GPU", "value": 1}}]
        assert deploy["placement"]["constraints"] == ["node.labels.gpu == true"]
        assert deploy["update_config"]["order"] == "stop-first", "a new task needs the GPU"
        assert "NVIDIA_VISIBLE_DEVICES" not in services[name]["environment"]
    volumes = {services[n]["volumes"][0]["source"] for n in ("ollama-0", "ollama-1")}
    assert len(volumes) == 2, "two pulls into one model directory would race"


def test_tls_comes_from_secrets(services: dict[str, Any]) -> None:
    nginx = services["nginx"]
    assert [s["source"] for s in nginx["secrets"]] == ["tls_crt", "tls_key"]
    assert nginx["environment"]["NGINX_TLS_KEY"] == "/run/secrets/tls_key"


def test_the_stack_deploys_without_gpus_too(tmp_path: Path) -> None:
    services = stack_config(tmp_path, "docker-stack.yml")["services"]
    assert "resources" not in services["ollama-0"]["deploy"]
