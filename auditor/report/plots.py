"""The report's plots, drawn at report time from records and samples into ``RUN/plots/*.png`` (matplotlib, Agg)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

import auditor.store.parallel as parallel
from auditor.capability.curves import JIN_THRESHOLDS
from auditor.stats.metrics import roc_curve

PLOTS = "plots"
COLORS = {"fact_recall": "#d62728", "open_book": "#1f77b4", "overriding": "#2ca02c", "icl_classification": "#9467bd"}
JIN_DRAWN = {"fact_recall": "fact_recall", "icl_classification": "icl"}  # family -> its JIN_THRESHOLDS key
MEMORIZATION_COLORS = {"mia": "#000000", "extraction": "#ff7f0e", "canaries": "#8c564b", "exposure": "#7f7f7f"}


def plot_path(run: Path, name: str) -> Path:
    """``RUN/plots/<name>.png`` with the name made safe for a file system."""
    out = run / PLOTS
    out.mkdir(parents=True, exist_ok=True)
    return out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    if parallel.is_main():  # data parallel: one writer
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


ATTACK_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
LEGEND = 9  # legend font size: readable once the PNG is scaled to a phone's width


def plot_roc(rows: list[dict], attacks: list[str], path: Path, title: str = "") -> Path | None:
    """ROC curves (log-log axes, as LiRA) of the given attacks from ``mia_scores`` sample rows, one colour each.

    The FPR axis starts at 1/n_nonmembers, the smallest non-zero FPR the data can measure.
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    drawn, n_non = 0, 0
    for i, attack in enumerate(attacks):
        mem = [r["scores"][attack] for r in rows if r.get("label") == 1 and attack in r.get("scores", {})]
        non = [r["scores"][attack] for r in rows if r.get("label") == 0 and attack in r.get("scores", {})]
        if not mem or not non:
            continue
        fpr, tpr = roc_curve(mem, non)
        ax.plot(fpr, tpr, label=attack, color=ATTACK_COLORS[i % len(ATTACK_COLORS)], lw=1.6)
        drawn, n_non = drawn + 1, max(n_non, len(non))
    if not drawn:
        plt.close(fig)
        return None
    lo = min(1.0 / n_non, 0.5)  # one non-member measures FPR 0 or 1 only: keep an axis to draw on
    ax.plot([lo, 1], [lo, 1], ls="--", color="#999", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1.05)  # above 1 so a curve on TPR = 1 is not hidden by the frame
    plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 0.01, not 10^-2
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain if lo >= 0.1 else ticker.NullFormatter())  # label 0.2 ... within one decade
    ax.set_xlabel(f"false positive rate (from 1/{n_non} non-members)")
    ax.set_ylabel("true positive rate")
    if title:
        ax.set_title(title, fontsize=11)
    ax.legend(fontsize=LEGEND, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_by_repeats(
    lines: dict[str, list[tuple[float, float]]],
    ylabel: str,
    path: Path,
    *,
    ceiling: float | None = None,
    limits: tuple[float, float] | None = None,
) -> Path | None:
    """A figure against the number of times a text was repeated in training, one line per checkpoint (or
    series); ``ceiling`` (e.g. exposure's log2 of the number of candidate secrets) is drawn dashed. The y axis
    spans the figure's possible values: ``limits`` (a rate: 0 to 1), else 0 to the ceiling."""
    lines = {k: sorted(v) for k, v in lines.items() if v}
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for i, (label, pts) in enumerate(lines.items()):
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", ms=4, color=ATTACK_COLORS[i % len(ATTACK_COLORS)], label=label)
    if ceiling is not None:
        ax.axhline(ceiling, ls="--", color="#555", lw=1.2, label=f"ceiling {ceiling:.1f} (log2 candidates)")
    if all(x > 0 for pts in lines.values() for x, _ in pts):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 16, not 2^4
    ax.set_xlabel("repeats in training")
    ax.set_ylabel(ylabel)
    lo, hi = limits if limits is not None else (0.0, ceiling) if ceiling is not None else (None, None)
    if lo is not None and hi is not None:
        pad = 0.04 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)  # the whole possible range: a rate of 0.05 is not drawn as a tall line
    else:
        ax.margins(y=0.08)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=LEGEND)
    return _save(fig, path)


def _capability_panel(ax: plt.Axes, method: str, fams: dict[str, dict]) -> None:
    """One method's curves: accuracy with its 95% CI band, the 0-shot baseline where measured (dotted), the 5%
    threshold (dotted vertical) and Jin et al.'s reported range for fact recall and ICL (shaded)."""
    top = 0.95
    for fam, c in fams.items():
        xs, ys, thr = c["sparsity"], c["accuracy"], c["threshold_5pct"]
        label = f"{fam} (5% thr {thr:g})" if thr is not None else fam
        (line,) = ax.plot(xs, ys, marker="o", ms=3.5, color=COLORS.get(fam), label=label)
        color = line.get_color()
        lo = [ci[0] if ci[0] is not None else y for ci, y in zip(c["ci"], ys, strict=True)]
        hi = [ci[1] if ci[1] is not None else y for ci, y in zip(c["ci"], ys, strict=True)]
        ax.fill_between(xs, lo, hi, color=color, alpha=0.12, linewidth=0)
        if "accuracy_0shot" in c:
            ax.plot(xs, c["accuracy_0shot"], ls=":", marker=".", color=color, label=f"{fam} 0-shot")
        if thr is not None and len(xs) > 1:
            ax.axvline(thr, ls=":", color=color, lw=1)
        if fam in JIN_DRAWN:
            a, b = JIN_THRESHOLDS[JIN_DRAWN[fam]]
            ax.axvspan(a, b, color=color, alpha=0.08, label=f"Jin et al. 2024: {fam} 5% thr {a:g}-{b:g}")
        top = max(top, *xs)
    ax.set_title(method)
    ax.set_xlabel("requested sparsity")
    ax.set_ylabel("accuracy")
    ax.set_xlim(-0.02, top + 0.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=LEGEND, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)


def plot_capability(curves: dict[str, dict[str, dict]], path: Path) -> Path | None:
    """Accuracy against sparsity, one panel per method, one line per family (Jin et al. 2024's curves).

    ``curves`` is ``{method: {family: curve}}`` as :func:`auditor.capability.curves.capability_curves` gives it
    (``capability.json``; keys starting with ``_`` are skipped)."""
    methods = [m for m, fams in curves.items() if not m.startswith("_") and fams]
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(methods), figsize=(5.6 * len(methods), 6.6), squeeze=False)
    for ax, m in zip(axes[0], methods, strict=True):
        _capability_panel(ax, m, curves[m])
    return _save(fig, path)


def plot_memorization_vs_capability(series: dict[str, dict[str, list]], path: Path) -> Path | None:
    """One panel per pruning method: memorization figures and capability accuracies against sparsity.

    ``series`` is ``{method: {name: [(sparsity, value), ...]}}``; names starting ``capability:`` are
    drawn solid, memorization figures dashed.
    """
    methods = [m for m, s in series.items() if s]
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(methods), figsize=(5.6 * len(methods), 4.8), squeeze=False)
    for ax, m in zip(axes[0], methods, strict=True):
        for name, pts in series[m].items():
            pts = [(x, y) for x, y in pts if y is not None]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            kind, _, label = name.partition(":")
            if kind == "capability":
                ax.plot(xs, ys, marker="o", ms=3.5, color=COLORS.get(label), label=f"{label} accuracy")
            else:
                ax.plot(xs, ys, marker="s", ms=3.5, ls="--", color=MEMORIZATION_COLORS.get(kind), label=label)
        ax.set_title(f"what {m} pruning removes first")
        ax.set_xlabel("requested sparsity")
        ax.set_ylabel("MIA AUC, extraction rate, exposure / max possible, accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LEGEND)
    return _save(fig, path)


def plot_bars(table: dict[str, dict], columns: list[tuple[str, str]], path: Path) -> Path | None:
    """One bar chart per column (metric), one bar per row label (checkpoint)."""
    if not columns or not table:
        return None
    labels = list(table)
    ncols = min(3, len(columns))
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, columns, strict=False):
        vals = [table[lb].get(key) for lb in labels]
        ax.bar(range(len(labels)), [v if isinstance(v, int | float) else 0 for v in vals], color="#4477aa")
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=LEGEND)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(columns) :]:
        ax.axis("off")
    return _save(fig, path)


def plot_lines(series: dict[str, dict[str, list]], titles: dict[str, str], xlabel: str, path: Path) -> Path | None:
    """One panel per entry of ``titles``; ``series`` is ``{panel: {line label: [(x, y), ...]}}``."""
    panels = [k for k in titles if any(y is not None for pts in series.get(k, {}).values() for _, y in pts)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        for label, pts in series[key].items():
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", ms=3.5, label=label)
        ax.set_title(titles[key], fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LEGEND)
    return _save(fig, path)
