"""Capability under pruning as files: ``capability.json``, ``curves.png`` and a Markdown threshold table.

The curves and Jin et al.'s 5% thresholds are computed in :mod:`auditor.capability.curves` (Jin et al.
2024, "The cost of down-scaling language models: fact recall deteriorates before in-context learning",
ICLR 2024) and drawn by the report's plotter (:func:`auditor.report.plots.plot_capability`).

``capability.json``::

    {method: {family: curve},  # the curves of auditor.capability.curves
     "_meta": {"threshold_definition", "jin_et_al", "gap_vs_fact_recall": {method: {family: float}},
               "quantized_source": bool, "notes": [...]}}

Every method's curve starts with the dense point (sparsity 0). A run without pruning has one method,
``dense``.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.capability.curves import JIN_THRESHOLDS, capability_curves, threshold_gaps
from auditor.store.runs import MANIFEST, RECORDS, atomic_write_json, log_rows

DEFINITION = (
    "largest requested sparsity s such that every measured sparsity <= s keeps accuracy >= 0.95 * dense "
    "accuracy (Jin et al. 2024); null when dense accuracy is 0"
)


def capability_json(records: list[dict], notes: list[str] | None = None) -> dict:
    """``capability.json`` (see the module docstring) from a run's records."""
    out: dict = capability_curves(records)
    notes = list(notes or [])
    out["_meta"] = {
        "threshold_definition": DEFINITION,
        "jin_et_al": {k: list(v) for k, v in JIN_THRESHOLDS.items()},
        "gap_vs_fact_recall": threshold_gaps(out),
        "quantized_source": any("quantiz" in n.lower() or "gguf" in n.lower() for n in notes),
        "notes": notes,
    }
    return out


def _notes(run_dir: Path) -> list[str]:
    """The checkpoint's and the source's notes from the run's manifest (a quantized source is flagged)."""
    manifest = run_dir / MANIFEST
    if not manifest.exists():
        return []
    man = json.loads(manifest.read_text(encoding="utf-8"))
    return list((man.get("checkpoint") or {}).get("notes") or []) + list(man.get("source_notes") or [])


def write_capability(run_dir: str | Path) -> dict:
    """Rebuild ``RUN/capability.json`` from ``RUN/records.jsonl``; returns the JSON. Its plot, ``curves.png``,
    is drawn by the report's plotter (:func:`auditor.report.plots.plot_capability`), called by the sweep's
    summaries step: the capability room computes, the report draws."""
    run_dir = Path(run_dir)
    cap = capability_json(log_rows(run_dir / RECORDS), _notes(run_dir))
    atomic_write_json(run_dir / "capability.json", cap)
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
