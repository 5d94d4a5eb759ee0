"""'What pruning removes first': memorization against capability along each pruning method's sparsity axis.

At every point (the dense point is sparsity 0 of every method) it takes from the figures tree: the MIA
AUC of the headline attack (``loss`` when measured, else the dense point's best attack), the headline
exact extraction rate, the canary extraction rate, the mean canary exposure divided by its maximum
possible value (so it lies on [0, 1]) and every capability family's accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.report.doc import Paragraph, Table
from auditor.report.plots import plot_memorization_vs_capability, plot_path
from auditor.report.sections import image

HEADLINE_ATTACK = "loss"


def headline_attack(figs: dict) -> str | None:
    mia = figs.get("mia", {})
    if HEADLINE_ATTACK in mia:
        return HEADLINE_ATTACK
    with_auc = [a for a, r in mia.items() if isinstance(r.get("auc"), int | float)]
    return max(with_auc, key=lambda a: mia[a]["auc"], default=None)


def _get(tree: dict, *path: str) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, int | float) and not isinstance(node, bool) else None


def _exposure(tree: dict, dense: dict) -> float | None:
    mean = _get(tree, "exposure", "mean")
    top = _get(tree, "exposure", "max_possible") or _get(dense, "exposure", "max_possible")
    return mean / top if mean is not None and top else None


def point_values(tree: dict, dense: dict, attack: str | None, families: list[str]) -> dict[str, float | None]:
    """``{series name: value}`` at one point (names as drawn: ``mia:...``, ``capability:<family>``)."""
    out: dict[str, float | None] = {}
    if attack:
        out[f"mia:MIA AUC ({attack})"] = _get(tree, "mia", attack, "auc")
    out["extraction:exact extraction rate"] = _get(tree, "extraction", "exact_extraction_rate")
    out["canaries:canary extraction rate"] = _get(tree, "extraction_canaries", "exact_extraction_rate")
    out["exposure:mean exposure / max possible"] = _exposure(tree, dense)
    for fam in families:
        out[f"capability:{fam}"] = _get(tree, "capability", fam, "accuracy")
    return out


def series(figs: dict) -> dict[str, list[tuple[float, dict[str, float | None]]]]:
    """``{method: [(sparsity, {series name: value}), ...]}``, the dense point first."""
    attack = headline_attack(figs)
    families = list(figs.get("capability", {}))
    dense = point_values(figs, figs, attack, families)
    out = {}
    for method, pts in figs.get("points", {}).items():
        rows = [(0.0, dense)]
        rows += [(float(s), point_values(tree, figs, attack, families)) for s, tree in pts.items() if float(s) > 0]
        out[method] = sorted(rows, key=lambda p: p[0])
    return out


def pruning_section(run: Path, label: str, figs: dict) -> list:
    """The plot and table, or nothing when the view has fewer than two points."""
    by_method = series(figs)
    if not by_method:
        return []
    names = list(dict.fromkeys(k for pts in by_method.values() for _, v in pts for k in v))
    # only what was measured at some pruned point: the plot needs two points of a line
    names = [n for n in names if any(v.get(n) is not None for pts in by_method.values() for s, v in pts if s > 0)]
    if not names:
        return []
    lines = {m: {n: [(s, v.get(n)) for s, v in pts] for n in names} for m, pts in by_method.items()}
    path = plot_memorization_vs_capability(lines, plot_path(run, f"{label}-memorization_vs_capability"))
    blocks: list = [
        Paragraph(
            f"{label}: memorization and capability against sparsity, per pruning method (dense = sparsity 0). "
            "Exposure is the mean canary exposure divided by its maximum possible value, so it lies on [0, 1]. "
            "A memorization line that falls before the accuracy lines means pruning removes memorized data first."
        )
    ]
    from auditor.pruning.methods import describe  # imports torch: only when a report is built, not for --help

    notes = [f"{m}: {describe(m)}" for m in by_method if describe(m)]
    if notes:
        blocks.append(Paragraph("Methods. " + " ".join(notes)))
    blocks += image(run, path, f"memorization vs capability, {label}")
    rows = [[m, f"{s:g}", *[v.get(n) for n in names]] for m, pts in by_method.items() for s, v in pts]
    blocks.append(Table(["method", "sparsity", *[_column(n) for n in names]], rows))
    return blocks


def _column(name: str) -> str:
    kind, _, label = name.partition(":")
    return f"{label} accuracy" if kind == "capability" else label
