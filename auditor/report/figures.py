"""A run's headline figures as one nested mapping: what the gate addresses and the report tabulates.

For a run directory (from ``auditor mia``, ``extract``, ``exposure``, ``sweep`` or one checkpoint of an
audit) the figures are::

    mia.<attack>.<metric>                         from mia.json (auc, auc_ci, tpr@1%fpr, tpr@0.1%fpr, ...)
    extraction.<key>                              from extraction.json (exact_extraction_rate@32, by_repeats, ...)
    extraction_canaries.<key>                     canary secrets greedily decoded from their prefixes (by_repeats)
    exposure.<key>                                from exposure.json (max, mean, by_repeats, ...)
    untargeted.<key>                              from untargeted.json
    capability.<family>.accuracy                  dense accuracy, from capability.json
    capability.<family>.threshold_5pct.<method>   largest sparsity within 5% of dense
    lab.<figure>                                  the lab's figures, when the run measured them
    unlearning.<label>.<metric>                   an unlearning comparison (privleak, verbmem_forget, ...)

An audit directory (``audit.json``) holds one such run per checkpoint under ``checkpoints/<label>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.errors import InputError

AUDIT_INDEX = "audit.json"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON ({e}); rerun the command that writes it") from e


def _capability(cap: dict) -> dict:
    out: dict[str, dict] = {}
    for method, families in cap.items():
        if not isinstance(families, dict):
            continue
        for family, curve in families.items():
            if not isinstance(curve, dict) or "accuracy" not in curve:
                continue
            entry = out.setdefault(family, {"threshold_5pct": {}})
            sp, acc = curve.get("sparsity", []), curve.get("accuracy", [])
            if sp and acc and sp[0] == 0:
                entry["accuracy"] = acc[0]
                if curve.get("ci"):
                    entry["accuracy_ci"] = curve["ci"][0]
                entry["n"] = curve.get("n")
            if method != "dense" and curve.get("threshold_5pct") is not None:
                entry["threshold_5pct"][method] = curve["threshold_5pct"]
    return out


def run_figures(path: str | Path) -> dict:
    """Figures of one run directory (see the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"run directory not found: {path}")
    figs: dict[str, Any] = {}
    for name in ("mia", "extraction", "extraction_canaries", "exposure", "untargeted"):
        f = path / f"{name}.json"
        if f.exists():
            figs[name] = _read(f)
    for cap in (path / "capability.json", path / "sweep" / "capability.json"):
        if cap.exists():
            figs["capability"] = _capability(_read(cap))
            break
    unl = path / "unlearning.json"
    if unl.exists():
        figs["unlearning"] = _read(unl).get("checkpoints", {})
    lab = path / "lab_figures.json"
    if lab.exists():
        figs["lab"] = _read(lab)
    return figs


def is_audit(path: str | Path) -> bool:
    return (Path(path) / AUDIT_INDEX).exists()


def checkpoint_figures(path: str | Path) -> tuple[dict[str, dict], str, str | None]:
    """``({label: figures}, primary label, baseline label or None)`` for an audit or a plain run."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"run directory not found: {path}")
    if not is_audit(path):
        return {"run": run_figures(path)}, "run", None
    index = _read(path / AUDIT_INDEX)
    figs = {label: run_figures(path / sub) for label, sub in index["checkpoints"].items()}
    return figs, index["primary"], index.get("baseline")


def collect_figures(path: str | Path) -> tuple[dict, dict | None]:
    """The primary checkpoint's figures and the baseline's (or None) — what ``auditor gate`` checks."""
    figs, primary, baseline = checkpoint_figures(path)
    if not figs[primary]:
        raise InputError(f"{path} holds no figures yet (no mia/extraction/exposure/capability results); run it first")
    return figs[primary], (figs[baseline] if baseline else None)
