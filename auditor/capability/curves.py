"""Capability curves under pruning and Jin et al.'s 5% thresholds, computed once from records.

What ``capability.json`` (:mod:`auditor.capability.analysis`), the report's figures tree and its plots all
read. From the capability records of one checkpoint (``extra.capability``, or a capability family's name),
one curve per pruning method and family::

    {method: {family: {"task", "sparsity": [...], "actual_sparsity": [...], "accuracy": [...],
                       "ci": [[lo, hi], ...], "n": int, "threshold_5pct": float | null,
                       # multiple-choice families also: "accuracy_0shot", "gain_over_0shot" (k-shot minus
                       #   0-shot), "accuracy_calibrated", and "dense_above_0shot" (the dense k-shot 95% CI lies
                       #   above the 0-shot accuracy: without it there is no in-context learning to lose)
                       # overriding also: "memorized_rate"
                      }}}

Every curve starts with the dense point (sparsity 0), followed by the method's pruned points by requested
sparsity. A run without pruning has one method, ``dense``, whose curves hold the dense point only.

Threshold (Jin et al. 2024, "The cost of down-scaling language models: fact recall deteriorates before
in-context learning", ICLR 2024; :func:`auditor.stats.metrics.threshold_5pct`): the largest sparsity ``s``
such that *every* point with sparsity ``<= s`` keeps accuracy ``>= 0.95 *`` dense accuracy; ``None`` when
the dense accuracy is 0. The gap to fact recall is ``threshold(family) - threshold(fact_recall)`` per
method: positive when the family's ability survives more pruning.
"""

from __future__ import annotations

from typing import TypeVar

from auditor.capability.figures import is_capability
from auditor.stats.metrics import threshold_5pct

T = TypeVar("T")

DENSE = "dense"
# the sparsities at which Jin et al. 2024 report each kind of ability falling 5% below dense
JIN_THRESHOLDS = {"fact_recall": (0.3, 0.4), "open_book": (0.5, 0.6), "overriding": (0.7, 0.7), "icl": (0.6, 0.7)}
EXTRA_METRICS = ("accuracy_0shot", "gain_over_0shot", "accuracy_calibrated", "memorized_rate")

Points = dict[float, dict[str, dict]]  # requested sparsity -> metric -> record


def _method(row: dict) -> str:
    return str(row.get("method") or DENSE)


def _requested(row: dict) -> float:
    if _method(row) == DENSE:
        return 0.0
    s = row.get("requested_sparsity")
    return float(s if s is not None else row.get("sparsity") or 0.0)


def _by_point(records: list[dict]) -> dict[tuple[str, str], Points]:
    """``{(method, family): {requested sparsity: {metric: record}}}`` of the capability records; a point whose
    accuracy has no value (a skipped point) is left out."""
    out: dict[tuple[str, str], Points] = {}
    for r in records:
        if not is_capability(r) or (r.get("metric") == "accuracy" and r.get("value") is None):
            continue
        out.setdefault((_method(r), r["family"]), {}).setdefault(_requested(r), {})[r["metric"]] = r
    return out


def _curve(pts: Points) -> dict:
    """One curve from its points (the dense point at sparsity 0 among them)."""
    xs = sorted(pts)
    acc = [pts[s]["accuracy"]["value"] for s in xs]
    dense = pts[0.0]["accuracy"]
    curve = {
        "task": dense.get("task"),
        "sparsity": xs,
        "actual_sparsity": [pts[s]["accuracy"].get("sparsity") for s in xs],
        "accuracy": acc,
        "ci": [list(pts[s]["accuracy"].get("ci") or [None, None]) for s in xs],
        "n": dense.get("n"),
        "threshold_5pct": threshold_5pct(xs, acc),
    }
    for extra in EXTRA_METRICS:
        if all(extra in pts[s] for s in xs):
            curve[extra] = [pts[s][extra]["value"] for s in xs]
    if "accuracy_0shot" in curve and curve["ci"][0][0] is not None:
        # is there in-context learning to lose? the dense k-shot CI must clear the 0-shot accuracy
        curve["dense_above_0shot"] = curve["ci"][0][0] > curve["accuracy_0shot"][0]
    return curve


def capability_curves(records: list[dict]) -> dict[str, dict[str, dict]]:
    """``{method: {family: curve}}`` (see the module docstring) from one checkpoint's records."""
    by = _by_point(records)
    methods = list(dict.fromkeys(m for m, _ in by if m != DENSE)) or [DENSE]
    families = list(dict.fromkeys(f for _, f in by))
    out: dict[str, dict[str, dict]] = {}
    for m in methods:
        out[m] = {}
        for fam in families:
            pts = dict(by.get((DENSE, fam), {}))
            if m != DENSE:
                pts.update({s: v for s, v in by.get((m, fam), {}).items() if s > 0})
            pts = {s: v for s, v in pts.items() if "accuracy" in v}
            if 0.0 in pts:
                out[m][fam] = _curve(pts)
    return out


def pruned(curves: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """The curves with at least one pruned point (a dense-only run has none)."""
    out = {m: {f: c for f, c in fams.items() if len(c["sparsity"]) > 1} for m, fams in curves.items()}
    return {m: fams for m, fams in out.items() if fams}


def by_family(curves: dict[str, dict[str, T]]) -> dict[str, dict[str, T]]:
    """The same curves (or any ``{method: {family: value}}``) as ``{family: {method: value}}``."""
    out: dict[str, dict[str, T]] = {}
    for m, fams in curves.items():
        for f, c in fams.items():
            out.setdefault(f, {})[m] = c
    return out


def threshold_gaps(curves: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """``{method: {family: threshold - fact recall's threshold}}`` where both are defined."""
    return {
        m: {
            f: round(c["threshold_5pct"] - fams["fact_recall"]["threshold_5pct"], 6)
            for f, c in fams.items()
            if f != "fact_recall" and c["threshold_5pct"] is not None
        }
        for m, fams in curves.items()
        if fams.get("fact_recall", {}).get("threshold_5pct") is not None
    }
