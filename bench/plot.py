"""The PNG of a benchmark report: latency direct vs gateway, and requests per second vs target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

DIRECT_COLOUR = "#9e9e9e"
GATEWAY_COLOUR = "#1f77b4"
MET_COLOUR = "#2ca02c"
MISSED_COLOUR = "#d62728"


def _verdict(target: dict[str, Any]) -> str:
    return "PASS" if target["pass"] else "FAIL"


def _clients(count: int) -> str:
    return f"{count} client" if count == 1 else f"{count} clients"


def _latency_panel(ax: Axes, run: dict[str, Any]) -> None:
    names = ("p50", "p90", "p99")
    direct = [run["direct"][f"{name}_ms"] for name in names]
    gateway = [run["gateway"][f"{name}_ms"] for name in names]
    width = 0.38
    bars_direct = ax.bar([x - width / 2 for x in range(3)], direct, width, color=DIRECT_COLOUR)
    bars_gateway = ax.bar([x + width / 2 for x in range(3)], gateway, width, color=GATEWAY_COLOUR)
    for bars in (bars_direct, bars_gateway):
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    bars_direct.set_label("fake Ollama directly")
    bars_gateway.set_label("through the gateway")
    ax.set_xticks(range(3), names)
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(0, max(gateway + direct) * 1.25)
    ax.set_title(
        f"Non-streaming chat, {_clients(run['concurrency'])}\n"
        f"gateway adds {run['added_ms']['p50']:.2f} ms p50, {run['added_ms']['p99']:.2f} ms p99",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _throughput_panel(ax: Axes, report: dict[str, Any]) -> None:
    target = report["targets"]["req_per_s_per_worker"]
    labels = [_clients(run["concurrency"]) for run in report["non_streaming"]]
    values = [run["gateway"]["req_per_s"] for run in report["non_streaming"]]
    colours = [GATEWAY_COLOUR] * len(values)
    colours[-1] = MET_COLOUR if target["pass"] else MISSED_COLOUR  # the run the target is read from
    labels.append("CPU-bound limit\n(1000 / CPU ms per req)")
    values.append(report["non_streaming"][-1]["gateway_worker_cpu_bound_req_per_s"])
    colours.append(DIRECT_COLOUR)
    bars = ax.bar(labels, values, color=colours)
    ax.bar_label(bars, fmt="%.0f", fontsize=8, padding=2)
    ax.axhline(target["limit"], color=MISSED_COLOUR, linestyle="--", linewidth=1)
    ax.annotate(
        f"target >= {target['limit']:g}",
        (1.0, target["limit"]),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 4),
        textcoords="offset points",
        ha="right",
        fontsize=8,
        color=MISSED_COLOUR,
    )
    ax.set_ylabel("requests per second (1 worker)")
    ax.set_ylim(0, max([*values, target["limit"]]) * 1.2)
    ax.set_title(
        f"Throughput of one gateway worker\n{target['value']:.0f} req/s at "
        f"{_clients(report['non_streaming'][-1]['concurrency'])}: {_verdict(target)}",
        fontsize=10,
        color=MET_COLOUR if target["pass"] else MISSED_COLOUR,
    )
    ax.grid(axis="y", alpha=0.3)


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Render ``report`` (as written to ``latest.json``) into a PNG at ``path``."""
    runs = report["non_streaming"]
    figure, axes = plt.subplots(1, len(runs) + 1, figsize=(5 * len(runs) + 5, 5.4))
    try:
        for ax, run in zip(axes, runs, strict=False):
            _latency_panel(ax, run)
        _throughput_panel(axes[-1], report)
        added = report["targets"]["added_p50_ms"]
        stream = report["streaming"]
        machine = report["machine"]
        dirty = " (uncommitted changes)" if report["git"]["dirty"] else ""
        figure.suptitle(
            f"Gateway benchmark: {report['git']['sha'][:10]}{dirty}, {report['timestamp']}, "
            f"{machine['cpus']} CPUs, load {machine['load_average_before'][0]:.1f}",
            fontsize=12,
        )
        figure.text(
            0.5,
            0.905,
            f"added p50 latency at {_clients(runs[0]['concurrency'])}: {added['value']:.2f} ms "
            f"(target <= {added['limit']:g} ms): {_verdict(added)}",
            ha="center",
            fontsize=11,
            color=MET_COLOUR if added["pass"] else MISSED_COLOUR,
        )
        figure.text(
            0.5,
            0.01,
            f"streaming: first token +{stream['first_token']['added_p50_ms']:.2f} ms p50; relay "
            f"{stream['relay']['gateway']['chunks_per_s']:,} chunks/s through the gateway "
            f"({stream['relay']['direct']['chunks_per_s']:,} direct); gateway worker RSS "
            f"{report['memory']['gateway_worker_rss_after_mb']:.0f} MB after the load",
            ha="center",
            fontsize=9,
        )
        figure.tight_layout(rect=(0, 0.04, 1, 0.9))
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
