"""``forecast.png``: precision and recall of each early model's forecast against the fraction of training
it had seen (Biderman et al. 2023, Fig. 3), matplotlib with the Agg backend as ``auditor.report.plots``.

When any early model's fraction is unknown (a smaller model, a checkpoint without ``checkpoint.json``), the
x axis is the order of the early models, labelled with their names. Undefined values (0/0) are not drawn.
The final model's memorization rate is drawn as the precision a random forecast would have.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import auditor.store.parallel as parallel

COLORS = {"precision": "#1f77b4", "recall": "#d62728"}


def _xs(early: list[dict]) -> tuple[list[float], str, list[str] | None]:
    """x positions, the axis title, and tick labels (None: numeric fractions)."""
    if early and all(r["fraction"] is not None for r in early):
        return [float(r["fraction"]) for r in early], "fraction of training seen by the early model", None
    return [float(i) for i in range(len(early))], "early model", [r["label"] for r in early]


def plot_forecast(result: dict, path: str | Path) -> Path:
    """Draw the figure into ``path`` (the main process writes it); returns the path."""
    early = result["early"]
    xs, xlabel, ticks = _xs(early)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for metric, color in COLORS.items():
        pts = [(x, r[metric]) for x, r in zip(xs, early, strict=True) if r[metric] is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, lw=1.6, label=metric)
    rate = result["final"]["memorization_rate"]
    if rate is not None:
        ax.axhline(rate, ls="--", color="#999", lw=1, label="final memorization rate")
    if ticks is not None:
        ax.set_xticks(xs)
        ax.set_xticklabels(ticks, rotation=30 if len(ticks) > 3 else 0, ha="right" if len(ticks) > 3 else "center")
    else:
        ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("precision / recall")
    fin = result["final"]
    ax.set_title(
        f"forecast of {fin['label']}'s memorized set ({fin['n_memorized']} of {result['n_examples']})", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    path = Path(path)
    if parallel.is_main():
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
