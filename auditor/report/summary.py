"""``summary.json``: one small, stable, machine-readable file per run for CI and dashboards.

The schema is documented in ``docs/summary-schema.md`` (JSON Schema: ``docs/summary.schema.json``); its
``schema_version`` changes whenever a key changes meaning or goes away. Every figure comes from the same
figures tree the gate checks (:mod:`auditor.report.figures`, built from ``records.jsonl`` only), flattened to
the gate's paths: ``figures["mia.loss.auc"] == {"value", "ci_low", "ci_high", "n", "skipped"}``, so any key
of ``figures`` is a valid rule path (``auditor gate``), and ``PATH.ci_low`` / ``PATH.ci_high`` too where the
entry has them; ``n`` and ``skipped`` say how many items the figure was measured on and which were left out.
Checkpoint identity and package versions come from the run's ``manifest.json``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.report.figures import view_figures
from auditor.report.records import View, read_json, views
from auditor.report.sections import read_manifest
from auditor.store.atomic import atomic_write_json
from auditor.store.record_tree import EVIDENCE, is_evidence
from auditor.store.runs import package_versions

SCHEMA_VERSION = 2
SUMMARY = "summary.json"
VERSIONS = ("memaudit", "torch", "transformers")  # the packages a summary names (docs/summary-schema.md)
MODE = 0o644  # readable by a CI uploader running as another user
EVIDENCE_ORDER = sorted(EVIDENCE, key=len, reverse=True)  # "_low_n" before "_n": the longest suffix wins


def _finite(v: Any) -> float | int | None:
    """A JSON-safe number: NaN and infinities (not valid JSON) become null; counts stay whole numbers."""
    if v is None:
        return None
    if isinstance(v, int):
        return v
    return float(v) if math.isfinite(v) else None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _split(name: str) -> tuple[str, str]:
    """``(figure, sibling suffix)`` of a tree key: ``auc_ci`` -> ``("auc", "_ci")``; ``("auc", "")`` for a figure."""
    for suffix in EVIDENCE_ORDER:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def _evidence(entry: dict, suffix: str, v: Any) -> None:
    """Put a sibling of a figure (``_ci``, ``_low_n``, ``_n``, ``_skipped``, ``_ci_note``) on its flat entry."""
    if suffix == "_ci" and isinstance(v, list | tuple) and len(v) == 2:
        lo, hi = v
        entry["ci_low"] = _finite(lo) if _is_number(lo) else None
        entry["ci_high"] = _finite(hi) if _is_number(hi) else None
    elif suffix == "_low_n" and isinstance(v, bool):
        entry["low_n"] = v
    elif suffix == "_n" and _is_number(v):
        entry["n"] = int(v)
        entry.setdefault("skipped", {})
    elif suffix == "_skipped" and isinstance(v, dict):
        entry["skipped"] = {str(k): int(c) for k, c in v.items() if _is_number(c)}
    elif suffix == "_ci_note" and isinstance(v, str):
        entry["ci_note"] = v


def flatten_figures(tree: dict, prefix: str = "") -> dict[str, dict]:
    """``{gate path: {"value", "ci_low"?, "ci_high"?, "low_n"?, "n"?, "skipped"?}}`` for every number of a figures
    tree. A figure's siblings are folded into its entry, never figures of their own: ``<figure>_ci`` becomes
    ``ci_low`` / ``ci_high``, ``<figure>_low_n`` (a TPR at an FPR below 1/#non-members,
    :func:`auditor.stats.metrics.zero_fp_only`) ``low_n``, ``<figure>_n`` ``n`` (the items it was measured on) and
    ``<figure>_skipped`` ``skipped`` (``{reason: count}`` of the items left out; ``{}`` when ``n`` is known and
    none were); a figure recorded without a value has ``value`` null; strings are left out."""
    out: dict[str, dict] = {}
    for key, v in tree.items():
        path = f"{prefix}{key}"
        if isinstance(v, dict) and not is_evidence(str(key)):
            out.update(flatten_figures(v, path + "."))
        elif (v is None or _is_number(v)) and not is_evidence(str(key)):
            out[path] = {"value": _finite(v)}
    for key, v in tree.items():
        figure, suffix = _split(str(key))
        if suffix and f"{prefix}{figure}" in out:
            _evidence(out[f"{prefix}{figure}"], suffix, v)
    return out


def checkpoint_info(view: View) -> dict:
    """``{label, source, path, fingerprint, architecture}`` of a view's checkpoint, from its run's manifest."""
    manifest = read_manifest(view.path)
    ck = manifest.get("checkpoint") or {}
    return {
        "label": view.checkpoint or view.label,
        "source": ck.get("source"),
        "path": ck.get("resolved"),
        "fingerprint": ck.get("fingerprint"),
        "architecture": ck.get("architecture"),
    }


def _versions(manifest: dict) -> dict[str, str | None]:
    """The versions that produced the results (the manifest's), else those of this process."""
    recorded = manifest.get("versions") or package_versions()
    return {name: recorded.get(name) for name in VERSIONS}


def _rule(r: dict) -> dict:
    """One rule of a verdict, JSON-safe, with the fields a verdict written before statuses lacks filled in."""
    out = {k: (_finite(v) if _is_number(v) else v) for k, v in r.items()}
    out.setdefault("status", "PASS" if r.get("passed") else "FAIL")
    out.setdefault("n", None)
    out.setdefault("skipped", {})
    ci = out.get("ci")
    if isinstance(ci, list | tuple):
        out["ci"] = [_finite(x) if _is_number(x) else None for x in ci]
    return out


def _gate(run: Path, gate: dict | None) -> dict | None:
    """The verdict given, else the run's ``gate.json`` (its own verdict), else None."""
    if gate is None and (run / "gate.json").exists():
        gate = read_json(run / "gate.json")
    if not isinstance(gate, dict):
        return None
    passed = bool(gate.get("passed"))
    return {
        "passed": passed,
        "status": gate.get("status") or ("PASS" if passed else "FAIL"),
        "policy": gate.get("policy") if isinstance(gate.get("policy"), dict) else None,
        "rules": [_rule(r) for r in gate.get("rules", [])],
        "warnings": list(gate.get("warnings", [])),
    }


def build_summary(
    run_dir: str | Path, *, command: str | None = None, argv: Sequence[str] | None = None, gate: dict | None = None
) -> dict:
    """The ``summary.json`` object of a run or audit directory (see ``docs/summary-schema.md``)."""
    run = Path(run_dir)
    found, primary, baseline = views(run)
    top = read_manifest(run)
    by_label = {v.label: v for v in found}
    main = by_label[primary]
    info = checkpoint_info(main)
    config = top.get("config") if isinstance(top.get("config"), dict) else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command or top.get("kind") or config.get("command"),
        "argv": list(argv) if argv is not None else None,
        "checkpoint": info,
        "weights_fingerprint": info["fingerprint"],
        "versions": _versions(read_manifest(main.path) or top),
        "figures": flatten_figures(view_figures(main)),
        "baseline": baseline,
        "compare": {
            v.label: {"checkpoint": checkpoint_info(v), "figures": flatten_figures(view_figures(v))}
            for v in found
            if v.label != primary
        },
        "gate": _gate(run, gate),
    }


def write_summary(
    run_dir: str | Path, *, command: str | None = None, argv: Sequence[str] | None = None, gate: dict | None = None
) -> Path:
    """Write ``RUN/summary.json`` atomically (readers never see half a file), mode 0644; returns its path.

    ``command``: the ``auditor`` command that made the run (default: the manifest's kind or command);
    ``argv``: its command line; ``gate``: the verdict just computed (default: the run's ``gate.json``)."""
    path = Path(run_dir) / SUMMARY
    atomic_write_json(path, build_summary(run_dir, command=command, argv=argv, gate=gate))
    if path.exists():
        os.chmod(path, MODE)
    return path
