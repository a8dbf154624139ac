"""The compose files as shipped (no stack needed): the GPU override is valid and reserves GPUs."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.e2e.stack import REPO_ROOT

pytestmark = pytest.mark.e2e


def compose_config(*files: str) -> dict[str, Any]:
    """``docker compose config`` of ``files`` with the documented defaults (.env.example)."""
    command = ["docker", "compose", "--env-file", ".env.example"]
    for name in files:
        command += ["-f", name]
    result = subprocess.run(
        [*command, "config", "--format", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_gpu_override_reserves_nvidia_gpus_for_ollama() -> None:
    config = compose_config("docker-compose.yml", "docker-compose.gpu.yml")

    devices = config["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]


def test_base_file_publishes_nothing_but_nginx_and_reserves_no_gpu() -> None:
    config = compose_config("docker-compose.yml")

    published = {name: svc.get("ports", []) for name, svc in config["services"].items()}
    assert [name for name, ports in published.items() if ports] == ["nginx"]
    assert "deploy" not in config["services"]["ollama"]


def test_redis_persists_the_usage_ledger_with_bounded_memory() -> None:
    redis = compose_config("docker-compose.yml")["services"]["redis"]

    options = dict(zip(redis["command"][1::2], redis["command"][2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory"] == "256mb"
    assert options["--maxmemory-policy"] == "volatile-ttl"
    (volume,) = redis["volumes"]
    assert (volume["source"], volume["target"]) == ("redis-data", "/data")
