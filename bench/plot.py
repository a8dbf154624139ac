"""The PNG of a benchmark report: every ratio ``gateway ÷ reference`` against its target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

MET_COLOUR = "#2ca02c"
MISSED_COLOUR = "#d62728"
LIMIT_COLOUR = "#333333"


def _verdict(target: dict[str, Any]) -> str:
    return "PASS" if target["pass"] else "FAIL"


def _ratio_panel(ax: Axes, ratios: list[dict[str, Any]]) -> None:
    """One horizontal bar per ratio target, its limit drawn as a tick across the bar."""
    rows = range(len(ratios))
    values = [line["value"] for line in ratios]
    colours = [MET_COLOUR if line["pass"] else MISSED_COLOUR for line in ratios]
    bars = ax.barh(rows, values, color=colours, height=0.6)
    ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=3)
    for row, line in zip(rows, ratios, strict=True):
        ax.plot([line["limit"]] * 2, [row - 0.4, row + 0.4], color=LIMIT_COLOUR, linewidth=2)
    labels = [
        f"{line['what'].replace(': gateway / reference', '')}  ({line['comparison']} "
        f"{line['limit']:g}: {_verdict(line)})"
        for line in ratios
    ]
    ax.set_yticks(list(rows), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color=LIMIT_COLOUR, linewidth=0.5, linestyle=":")
    ax.set_xlim(0, max([*values, 1.5]) * 1.15)
    ax.set_xlabel("gateway / lean reference proxy (same run; black tick = target)")
    ax.grid(axis="x", alpha=0.3)


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Render ``report`` (as written to ``latest.json``) into a PNG at ``path``."""
    lines = report["targets"]
    ratios = [line for name, line in lines.items() if "ratio" in name]
    memory = lines["worker_rss_mb"]
    figure, ax = plt.subplots(figsize=(12, 1.2 + 0.45 * len(ratios)))
    try:
        _ratio_panel(ax, ratios)
        machine = report["machine"]
        dirty = " (uncommitted changes)" if report["git"]["dirty"] else ""
        passed = "every target PASS" if report["passed"] else "some targets FAIL"
        ax.set_title(
            f"Gateway vs lean proxy: {report['git']['sha'][:10]}{dirty}, {report['timestamp']}, "
            f"{machine['cpus']} CPUs, load {machine['load_average_before'][0]:.1f}: {passed}\n"
            f"gateway worker RSS {memory['value']:.0f} MB after the run "
            f"(<= {memory['limit']:g}: {_verdict(memory)})",
            fontsize=10,
            color=MET_COLOUR if report["passed"] else MISSED_COLOUR,
        )
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
