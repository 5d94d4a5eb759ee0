"""Capability under pruning: accuracy curves, Jin et al.'s 5% threshold, ``capability.json`` and ``curves.png``.

Threshold (Jin et al. 2024, "The cost of down-scaling language models: fact recall deteriorates before
in-context learning", ICLR 2024): with the dense accuracy ``a0`` (sparsity 0) and the measured points
sorted by requested sparsity, ``threshold_5pct`` is the largest sparsity ``s`` such that *every* point
with sparsity ``<= s`` has accuracy ``>= 0.95 * a0`` (relative tolerance). It is 0.0 when the first
pruned point already falls below, the largest measured sparsity when none does, and ``None`` when
``a0 == 0`` (no dense ability to lose). The ICL-over-fact-recall gap is ``threshold(family) -
threshold(fact_recall)`` per method: positive when in-context ability survives more pruning.

``capability.json``::

    {method: {family: {"task", "sparsity": [...], "actual_sparsity": [...], "accuracy": [...],
                       "ci": [[lo, hi], ...], "n": int, "threshold_5pct": float | null,
                       # icl_classification also: "accuracy_0shot", "gain_over_0shot" (k-shot minus 0-shot),
                       #   "accuracy_calibrated" (label log-likelihoods minus their 0-shot values),
                       #   "dense_above_0shot" (the dense k-shot 95% CI lies above the 0-shot accuracy: without
                       #   it there is no in-context learning to lose and the threshold says nothing)
                       # overriding also: "memorized_rate" (answered the memorized, not the context's, answer)
                      }},
     "_meta": {"threshold_definition", "jin_et_al", "gap_vs_fact_recall": {method: {family: float}},
               "quantized_source": bool, "notes": [...]}}

Every method's curve starts with the dense point (sparsity 0). A run without pruning has one method,
``dense``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import auditor.models.parallel as parallel
from auditor.stats.metrics import threshold_5pct  # defined in metrics; re-exported here for its callers
from auditor.store.runs import MANIFEST, RECORDS, atomic_write_json, log_rows

TOLERANCE = 0.05
JIN_THRESHOLDS = {"fact_recall": (0.3, 0.4), "open_book": (0.5, 0.6), "overriding": (0.7, 0.7), "icl": (0.6, 0.7)}
COLORS = {"fact_recall": "#d62728", "open_book": "#1f77b4", "overriding": "#2ca02c", "icl_classification": "#9467bd"}
DEFINITION = (
    "largest requested sparsity s such that every measured sparsity <= s keeps accuracy >= 0.95 * dense "
    "accuracy (Jin et al. 2024); null when dense accuracy is 0"
)


def capability_records(records: list[dict]) -> list[dict]:
    return [r for r in records if (r.get("extra") or {}).get("capability")]


def capability_curves(records: list[dict], notes: list[str] | None = None) -> dict:
    """``capability.json`` (see the module docstring) from sweep records."""
    recs = capability_records(records)
    by: dict[tuple[str, str], dict[float, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in recs:
        by[(r["method"], r["family"])][float(r.get("requested_sparsity") or 0.0)][r["metric"]] = r
    methods = list(dict.fromkeys(r["method"] for r in recs if r["method"] != "dense")) or ["dense"]
    families = list(dict.fromkeys(r["family"] for r in recs))
    out: dict = {}
    for m in methods:
        out[m] = {}
        for fam in families:
            pts = dict(by.get(("dense", fam), {}))
            if m != "dense":
                pts.update({s: v for s, v in by.get((m, fam), {}).items() if s > 0})
            pts = {s: v for s, v in pts.items() if "accuracy" in v}
            if 0.0 not in pts:
                continue
            xs = sorted(pts)
            acc = [pts[s]["accuracy"]["value"] for s in xs]
            curve = {
                "task": pts[0.0]["accuracy"]["task"],
                "sparsity": xs,
                "actual_sparsity": [pts[s]["accuracy"]["sparsity"] for s in xs],
                "accuracy": acc,
                "ci": [list(pts[s]["accuracy"]["ci"] or [None, None]) for s in xs],
                "n": pts[0.0]["accuracy"]["n"],
                "threshold_5pct": threshold_5pct(xs, acc),
            }
            for extra in ("accuracy_0shot", "gain_over_0shot", "accuracy_calibrated", "memorized_rate"):
                if all(extra in pts[s] for s in xs):
                    curve[extra] = [pts[s][extra]["value"] for s in xs]
            if "accuracy_0shot" in curve and curve["ci"][0][0] is not None:
                # is there in-context learning to lose? the dense k-shot CI must clear the 0-shot accuracy
                curve["dense_above_0shot"] = curve["ci"][0][0] > curve["accuracy_0shot"][0]
            out[m][fam] = curve
    gap = {
        m: {
            f: round(c["threshold_5pct"] - fams["fact_recall"]["threshold_5pct"], 6)
            for f, c in fams.items()
            if f != "fact_recall" and c["threshold_5pct"] is not None
        }
        for m, fams in out.items()
        if fams.get("fact_recall", {}).get("threshold_5pct") is not None
    }
    notes = list(notes or [])
    out["_meta"] = {
        "threshold_definition": DEFINITION,
        "jin_et_al": {k: list(v) for k, v in JIN_THRESHOLDS.items()},
        "gap_vs_fact_recall": gap,
        "quantized_source": any("quantiz" in n.lower() or "gguf" in n.lower() for n in notes),
        "notes": notes,
    }
    return out


def plot_curves(cap: dict, path: str | Path) -> Path:
    """``curves.png``: accuracy vs sparsity (95% CI bands), one line per family, one panel per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in cap if not m.startswith("_")]
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(5.2 * max(1, len(methods)), 5.4), squeeze=False)
    for ax, m in zip(axes[0], methods, strict=False):
        for fam, c in cap[m].items():
            color = COLORS.get(fam)
            xs, ys = c["sparsity"], c["accuracy"]
            thr = c["threshold_5pct"]
            label = f"{fam} (5% thr {thr:g})" if thr is not None else fam
            (line,) = ax.plot(xs, ys, marker="o", ms=3.5, color=color, label=label)
            lo = [ci[0] if ci[0] is not None else y for ci, y in zip(c["ci"], ys, strict=True)]
            hi = [ci[1] if ci[1] is not None else y for ci, y in zip(c["ci"], ys, strict=True)]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.12, linewidth=0)
            if "accuracy_0shot" in c:
                ax.plot(xs, c["accuracy_0shot"], ls=":", marker=".", color=line.get_color(), label=f"{fam} 0-shot")
        ax.axvline(0.3, ls="--", color="#d62728", lw=1, alpha=0.7)
        ax.text(0.305, 0.02, "Jin et al.: fact recall -5% ~0.3", color="#d62728", fontsize=7, rotation=90, va="bottom")
        ax.axvspan(0.6, 0.7, color="#9467bd", alpha=0.08)
        for s in (0.6, 0.7):
            ax.axvline(s, ls="--", color="#9467bd", lw=1, alpha=0.7)
        ax.text(0.605, 0.02, "Jin et al.: ICL -5% ~0.6-0.7", color="#9467bd", fontsize=7, rotation=90, va="bottom")
        ax.set_title(m)
        ax.set_xlabel("sparsity")
        ax.set_ylabel("accuracy")
        ax.set_xlim(-0.02, 0.95)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    path = Path(path)
    if parallel.is_main():  # data parallel: one writer
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_capability(run_dir: str | Path) -> dict:
    """Rebuild ``RUN/capability.json`` and ``RUN/curves.png`` from ``RUN/records.jsonl``; returns the JSON."""
    run_dir = Path(run_dir)
    rows = log_rows(run_dir / RECORDS)
    notes: list[str] = []
    manifest = run_dir / MANIFEST
    if manifest.exists():
        man = json.loads(manifest.read_text(encoding="utf-8"))
        notes = list((man.get("checkpoint") or {}).get("notes") or []) + list(man.get("source_notes") or [])
    cap = capability_curves(rows, notes)
    atomic_write_json(run_dir / "capability.json", cap)
    plot_curves(cap, run_dir / "curves.png")
    return cap


def threshold_table(cap: dict) -> str:
    """A Markdown table: dense accuracy and 5% threshold per family and method, and the gap to fact recall."""
    lines = ["| method | family | dense acc | 5% threshold | gap vs fact recall |", "|---|---|---|---|---|"]
    gap = cap.get("_meta", {}).get("gap_vs_fact_recall", {})
    for m, fams in cap.items():
        if m.startswith("_"):
            continue
        for f, c in fams.items():
            thr = "n/a" if c["threshold_5pct"] is None else f"{c['threshold_5pct']:g}"
            if c.get("dense_above_0shot") is False:
                thr += " (dense k-shot not above 0-shot: no ICL to lose)"
            g = gap.get(m, {}).get(f)
            lines.append(f"| {m} | {f} | {c['accuracy'][0]:.3f} | {thr} | {'' if g is None else f'{g:+g}'} |")
    return "\n".join(lines)
