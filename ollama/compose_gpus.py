#!/usr/bin/env python3
"""Write ``docker-compose.gpus.yml``: one Ollama per GPU on this host, the gateway routing over all.

One Ollama server loads a model once; with several GPUs the usual answer is one server per GPU.
The override pins the compose file's ``ollama`` service to the first GPU and adds
``ollama-gpu<N>`` for each other one (the same image and settings, its own GPU by
``device_ids``), all sharing the ``ollama`` model volume. Only the first one pulls the models
(two pulls into one directory would race); the others serve them from the shared volume once
they are there. The gateway gets ``GATEWAY_OLLAMA_URLS`` with every one of them.

    python3 ollama/compose_gpus.py --gpus 2            # GPUs 0 and 1
    python3 ollama/compose_gpus.py --gpu-ids 0,2       # those GPUs
    python3 ollama/compose_gpus.py                     # the GPUs the driver lists, if 2 or more

It prints the GPU ids it used (nothing when it wrote no file: fewer than two GPUs found and none
asked for; a stale file is then removed). ``make up GPUS=2`` runs it. Standard library only: it
runs before anything is installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

OUTPUT = "docker-compose.gpus.yml"
OLLAMA_PORT = 11434
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


class UsageError(ValueError):
    """The GPUs asked for make no sense."""


def service_name(position: int, gpu_id: str) -> str:
    """The compose service of the ``position``-th GPU: ``ollama`` first, then ``ollama-gpu<id>``
    (``ollama-gpu<position>`` for a GPU named by UUID)."""
    if position == 0:
        return "ollama"
    return f"ollama-gpu{gpu_id if gpu_id.isdigit() else position}"


def parse_ids(gpus: str, gpu_ids: str) -> list[str] | None:
    """The GPU ids asked for (``--gpus N`` means 0..N-1), or None when none were."""
    if gpus.strip() and gpu_ids.strip():
        raise UsageError("give GPUS (a count) or GPU_IDS (a list), not both")
    if gpu_ids.strip():
        ids = [part.strip() for part in gpu_ids.split(",") if part.strip()]
        if not all(part.isdigit() or part.startswith("GPU-") for part in ids):
            raise UsageError(
                f"GPU_IDS={gpu_ids!r}: expected indices or UUIDs from `nvidia-smi -L`, "
                "comma-separated (e.g. 0,2)"
            )
        if len(set(ids)) != len(ids):
            raise UsageError(f"GPU_IDS={gpu_ids!r} names a GPU twice")
        return ids
    if gpus.strip():
        if not gpus.strip().isdigit() or int(gpus) < 1:
            raise UsageError(f"GPUS={gpus!r}: expected a number of GPUs, 1 or more")
        return [str(index) for index in range(int(gpus))]
    return None


def detected_ids(driver_dir: Path | None = None) -> list[str]:
    """Indices of the host's NVIDIA GPUs: the driver lists one directory per GPU (by PCI bus id,
    the order of ``nvidia-smi``'s indices) in :data:`NVIDIA_GPUS`. None without the driver."""
    try:
        count = sum(1 for entry in (driver_dir or NVIDIA_GPUS).iterdir() if entry.is_dir())
    except OSError:
        return []
    return [str(index) for index in range(count)]


def render(ids: Sequence[str]) -> str:
    """The override file for ``ids`` (YAML)."""
    names = [service_name(position, gpu) for position, gpu in enumerate(ids)]
    urls = ",".join(f"http://{name}:{OLLAMA_PORT}" for name in names)
    lines = [
        f"# One Ollama per GPU ({', '.join(ids)}), written by ollama/compose_gpus.py: do not",
        "# edit; `make up GPUS=N` or `make up GPU_IDS=0,2` writes it again. Used instead of",
        "# docker-compose.gpu.yml:",
        "#   docker compose -f docker-compose.yml -f docker-compose.gpus.yml up -d --build --wait",
        "services:",
    ]
    for position, (name, gpu) in enumerate(zip(names, ids, strict=True)):
        lines.append(f"  {name}:")
        if position:
            lines += [
                "    extends:",
                "      file: docker-compose.yml",
                "      service: ollama",
                "    environment:",
                "      # The models come from the shared volume: only `ollama` pulls them.",
                '      OLLAMA_PULL_MODELS: ""',
            ]
        lines += [
            "    deploy:",
            "      resources:",
            "        reservations:",
            "          devices:",
            "            - driver: nvidia",
            f'              device_ids: ["{gpu}"]',
            "              capabilities: [gpu]",
        ]
    lines += [
        "  gateway:",
        "    environment:",
        f"      GATEWAY_OLLAMA_URLS: {urls}",
    ]
    if len(names) > 1:
        lines.append("    depends_on:")
        for name in names[1:]:
            lines += [f"      {name}:", "        condition: service_healthy"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or remove) the override; print the GPU ids used."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", default="", help="number of GPUs to use: 0..N-1")
    parser.add_argument("--gpu-ids", default="", help="GPU indices or UUIDs, comma-separated")
    parser.add_argument("--output", default=OUTPUT, type=Path, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    try:
        ids = parse_ids(args.gpus, args.gpu_ids)
    except UsageError as exc:
        print(f"compose_gpus: {exc}", file=sys.stderr)
        return 2
    if ids is None:
        ids = detected_ids()
        if len(ids) < 2:  # one GPU or none: docker-compose.gpu.yml (or the CPU) is the answer
            args.output.unlink(missing_ok=True)
            return 0
    args.output.write_text(render(ids), encoding="utf-8")
    print(",".join(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
