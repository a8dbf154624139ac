"""ollama/compose_gpus.py: one Ollama per GPU, pinned, sharing the models, the gateway on all."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "ollama" / "compose_gpus.py"


def load_script() -> ModuleType:
    """The generator as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("compose_gpus", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compose_gpus = load_script()


def compose_config(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``docker compose config`` of the base file plus the override written with ``args``."""
    assert compose_gpus.main([*args, "--output", str(tmp_path / "docker-compose.gpus.yml")]) == 0
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path)
    command = ["docker", "compose", "--env-file", str(REPO_ROOT / ".env.example")]
    command += ["-f", "docker-compose.yml", "-f", "docker-compose.gpus.yml", "config"]
    result = subprocess.run(
        [*command, "--format", "json"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def pinned(service: dict[str, Any]) -> list[str]:
    """The GPU ids a service reserves."""
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    return [gpu for device in devices for gpu in device["device_ids"]]


def test_compose_accepts_one_ollama_per_gpu_sharing_the_model_volume(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "--gpu-ids", "0,2,3")["services"]
    ollamas = ["ollama", "ollama-gpu2", "ollama-gpu3"]
    assert [pinned(services[name]) for name in ollamas] == [["0"], ["2"], ["3"]]
    volumes = {name: services[name]["volumes"][0]["source"] for name in ollamas}
    assert set(volumes.values()) == {"ollama"}
    pulls = [services[name]["environment"]["OLLAMA_PULL_MODELS"] for name in ollamas]
    assert pulls == ["gpt-oss:20b", "", ""], "only the first one pulls into the shared volume"
    gateway = services["gateway"]
    assert gateway["environment"]["GATEWAY_OLLAMA_URLS"] == (
        "http://ollama:11434,http://ollama-gpu2:11434,http://ollama-gpu3:11434"
    )
    assert set(ollamas) <= set(gateway["depends_on"])
    published = [name for name, svc in services.items() if svc.get("ports")]
    assert published == ["nginx"], "no Ollama is published"


def test_gpus_counts_from_zero() -> None:
    assert compose_gpus.parse_ids("2", "") == ["0", "1"]
    assert compose_gpus.parse_ids("", " 1, 3 ") == ["1", "3"]
    assert compose_gpus.parse_ids("", "") is None


@pytest.mark.parametrize(
    ("gpus", "gpu_ids", "message"),
    [
        ("2", "0,1", "not both"),
        ("two", "", "a number of GPUs"),
        ("0", "", "a number of GPUs"),
        ("", "0,x", "indices or UUIDs"),
        ("", "1,1", "twice"),
    ],
)
def test_a_wrong_gpu_request_is_refused_with_a_reason(
    gpus: str, gpu_ids: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.yml"
    assert compose_gpus.main(["--gpus", gpus, "--gpu-ids", gpu_ids, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_detection_counts_the_driver_s_gpus(tmp_path: Path) -> None:
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        (tmp_path / bus).mkdir()
    assert compose_gpus.detected_ids(tmp_path) == ["0", "1"]
    assert compose_gpus.detected_ids(tmp_path / "absent") == []


def test_two_detected_gpus_get_an_ollama_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    driver = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        (driver / bus).mkdir(parents=True)
    monkeypatch.setattr(compose_gpus, "NVIDIA_GPUS", driver)
    output = tmp_path / "docker-compose.gpus.yml"
    assert compose_gpus.main(["--output", str(output)]) == 0
    assert capsys.readouterr().out == "0,1\n"
    assert "ollama-gpu1:" in output.read_text()


def test_with_one_gpu_nothing_is_written_and_a_stale_file_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    driver = tmp_path / "gpus"
    (driver / "0000:01:00.0").mkdir(parents=True)
    monkeypatch.setattr(compose_gpus, "NVIDIA_GPUS", driver)
    output = tmp_path / "docker-compose.gpus.yml"
    output.write_text("stale")
    assert compose_gpus.main(["--output", str(output)]) == 0
    assert capsys.readouterr().out == ""
    assert not output.exists()
