"""The gate's ``WARN`` lines: a threshold outside the values its figure can take, and a shifted MIA split."""

from __future__ import annotations

import math

from auditor.report.evidence import evidence
from auditor.report.figures import figure_range, longest_key
from auditor.report.policy import Rule


def _number_at(figures: dict, path: str) -> float | None:
    """The plain number at ``path`` (keys may hold dots), or None."""
    node: object = figures
    rest = path
    while rest:
        if not isinstance(node, dict):
            return None
        key = longest_key(node, rest)
        if key is None:
            return None
        node, rest = node[key], rest[len(key) + 1 :]
    ok = isinstance(node, int | float) and not isinstance(node, bool)
    return float(node) if ok else None  # type: ignore[arg-type]


def exposure_ceiling(figures: dict, path: str) -> float | None:
    """``exposure.max_possible`` (log2 of the candidate count) beside the exposure figure at ``path``, falling
    back to the dense point's; None when the records do not hold it."""
    at = path.rfind("exposure.")
    for where in (path[:at] + "exposure.max_possible", "exposure.max_possible") if at >= 0 else ():
        found = _number_at(figures, where)
        if found is not None:
            return found
    return None


def range_warning(rule: Rule, threshold: float, figures: dict) -> str | None:
    """A ``WARN`` line when ``threshold`` lies outside the values the figure can take (:func:`figure_range`), so
    the rule can never fail (``exposure.max <= 20`` with 4-digit secrets: exposure is at most log2(10^4) = 13.29
    bits) or never pass; else None."""
    bounds = figure_range(rule.path, exposure_ceiling(figures, rule.path))
    if bounds is None or math.isnan(threshold):
        return None
    lo, hi = bounds
    always = {"<=": threshold >= hi, "<": threshold > hi, ">=": threshold <= lo, ">": threshold < lo}[rule.op]
    never = {"<=": threshold < lo, "<": threshold <= lo, ">=": threshold > hi, ">": threshold >= hi}[rule.op]
    edge = {"<=": threshold == lo, ">=": threshold == hi}.get(rule.op, False)
    if edge and not (always or never) and evidence(figures, rule.path).ci is not None:
        return (
            f"WARN  {rule.text}: '{rule.op} {threshold:.4g}' sits at the end of {rule.path}'s range, where its 95% "
            "interval (positive width at every n) always reaches past it: the rule can never pass, only fail or "
            f"be INCONCLUSIVE; pick a threshold inside the range (e.g. '{rule.op} {0.1 if lo == threshold else 0.9}')"
        )
    if not (always or never):
        return None
    verdict = "can never fail" if always else "can never pass"
    return (
        f"WARN  {rule.text}: {rule.path} lies in [{lo:.4g}, {hi:.4g}], so '{rule.op} {threshold:.4g}' "
        f"{verdict}; pick a threshold inside the range"
    )


def shift_warning(figures: dict) -> str | None:
    """A line for the gate when the MIA split is shifted (the blind baseline, Das et al. 2024), else None."""
    blind = figures.get("mia", {}).get("blind_baseline", {})
    if not blind.get("shifted"):
        return None
    auc = blind.get("auc", float("nan"))
    return (
        f"WARN  mia: shifted split: the blind baseline (model-free) separates members from non-members with "
        f"AUC {auc:.3f}; MIA figures measure the split, not memorization"
    )
