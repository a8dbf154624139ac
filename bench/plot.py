"""The PNG of a benchmark report: latency direct vs gateway, and requests per second vs target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.axes import Axes  # noqa: E402

DIRECT_COLOUR = "#9e9e9e"
GATEWAY_COLOUR = "#1f77b4"
PASS_COLOUR = "#2ca02c"
FAIL_COLOUR = "#d62728"


def _verdict(target: dict[str, Any]) -> str:
    return "PASS" if target["pass"] else "FAIL"


def _latency_panel(ax: Axes, report: dict[str, Any]) -> None:
    labels: list[str] = []
    direct: list[float] = []
    gateway: list[float] = []
    for run in report["non_streaming"]:
        for name in ("p50", "p99"):
            labels.append(f"{name}\n{run['concurrency']} client(s)")
            direct.append(run["direct"][f"{name}_ms"])
            gateway.append(run["gateway"][f"{name}_ms"])
    positions = range(len(labels))
    width = 0.38
    bars_direct = ax.bar([x - width / 2 for x in positions], direct, width, color=DIRECT_COLOUR)
    bars_gateway = ax.bar([x + width / 2 for x in positions], gateway, width, color=GATEWAY_COLOUR)
    for bars in (bars_direct, bars_gateway):
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    bars_direct.set_label("fake Ollama directly")
    bars_gateway.set_label("through the gateway")
    ax.set_xticks(list(positions), labels)
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(0, max(gateway + direct) * 1.2)
    target = report["targets"]["added_p50_ms"]
    ax.set_title(
        f"Non-streaming chat latency\nadded p50 at 1 client: {target['value']:.2f} ms "
        f"(target <= {target['limit']} ms) {_verdict(target)}",
        fontsize=10,
        color=PASS_COLOUR if target["pass"] else FAIL_COLOUR,
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _throughput_panel(ax: Axes, report: dict[str, Any]) -> None:
    target = report["targets"]["req_per_s_per_worker"]
    labels = [f"{run['concurrency']} client(s)" for run in report["non_streaming"]]
    values = [run["gateway"]["req_per_s"] for run in report["non_streaming"]]
    colours = [GATEWAY_COLOUR] * len(values)
    colours[-1] = PASS_COLOUR if target["pass"] else FAIL_COLOUR  # the run the target is read from
    labels.append("CPU-bound\ncapacity")
    values.append(report["non_streaming"][-1]["gateway_worker_cpu_bound_req_per_s"])
    colours.append(DIRECT_COLOUR)
    bars = ax.bar(labels, values, color=colours)
    ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
    ax.axhline(target["limit"], color=FAIL_COLOUR, linestyle="--", linewidth=1)
    ax.annotate(
        f"target >= {target['limit']:g}",
        (1.0, target["limit"]),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 4),
        textcoords="offset points",
        ha="right",
        fontsize=8,
        color=FAIL_COLOUR,
    )
    ax.set_ylabel("requests per second (1 worker)")
    ax.set_ylim(0, max([*values, target["limit"]]) * 1.2)
    ax.set_title(
        f"Gateway throughput, one worker\n{target['value']:.0f} req/s at "
        f"{report['non_streaming'][-1]['concurrency']} clients {_verdict(target)}",
        fontsize=10,
        color=PASS_COLOUR if target["pass"] else FAIL_COLOUR,
    )
    ax.grid(axis="y", alpha=0.3)


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Render ``report`` (as written to ``latest.json``) into a PNG at ``path``."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=(3, 2))
    try:
        _latency_panel(left, report)
        _throughput_panel(right, report)
        stream = report["streaming"]
        machine = report["machine"]
        figure.suptitle(
            f"gateway benchmark - {report['git']['sha'][:10]}{' (dirty)' if report['git']['dirty'] else ''}"
            f" - {report['timestamp']} - {machine['cpus']} CPUs, load {machine['load_average_before'][0]:.1f}",
            fontsize=11,
        )
        figure.text(
            0.5,
            0.01,
            f"streaming: first token +{stream['first_token_added_p50_ms']:.2f} ms p50; relay "
            f"{stream['gateway']['chunks_per_s']:,} chunks/s through the gateway "
            f"({stream['direct']['chunks_per_s']:,} direct); gateway worker RSS "
            f"{report['memory']['rss_after_mb']:.0f} MB after the load",
            ha="center",
            fontsize=9,
        )
        figure.tight_layout(rect=(0, 0.04, 1, 0.95))
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
