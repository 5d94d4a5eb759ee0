"""The figures of one point (checkpoint, method, sparsity) as a nested mapping, built from its records.

See :mod:`auditor.report.figures` for the paths. Every builder takes the point's records (as read from
``records.jsonl``) and returns one family's subtree; an empty subtree is left out of the point's tree.
"""

from __future__ import annotations

from typing import Any

from scipy.stats import ks_2samp

from auditor.stats.metrics import privleak

CAPABILITY_FAMILIES = ("fact_recall", "open_book", "overriding", "icl_classification")
EXTRACTION_METRICS = ("exact_extraction_rate", "approx_extraction_rate", "token_match")


def is_capability(row: dict) -> bool:
    fam = str(row.get("family", ""))
    return bool((row.get("extra") or {}).get("capability")) or fam in CAPABILITY_FAMILIES or fam.startswith("lm_eval:")


def split_task(task: str) -> tuple[str, str | None, str | None]:
    """``extraction@prefix_len=16`` -> ``("extraction", "prefix_len", "16")``; ``exposure@max`` -> (.., "max", None)."""
    base, _, qual = task.partition("@")
    if not qual:
        return base, None, None
    key, eq, val = qual.partition("=")
    return base, key, (val if eq else None)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def mia_tree(rows: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["task"], {})
        entry[r["metric"]] = r["value"]
        if r.get("ci"):  # auc_ci, tpr@1%fpr_ci, tpr@0.1%fpr_ci
            entry[f"{r['metric']}_ci"] = list(r["ci"])
        extra = r.get("extra") or {}
        for key in ("n_members", "n_nonmembers"):
            if key in extra:
                entry[key] = extra[key]
        if "low_n" in extra:  # a TPR@FPR on fewer than 1/FPR non-members
            entry[f"{r['metric']}_low_n"] = bool(extra["low_n"])
    return out


def _extraction_entry(entry: dict, r: dict, suffix: str = "") -> None:
    m = r["metric"]
    entry[m + suffix] = r["value"]
    if not suffix and r.get("ci"):
        entry[f"{m}_ci"] = list(r["ci"])
    if not suffix and r.get("n") is not None:
        entry["n"] = r["n"]


def extraction_tree(rows: list[dict]) -> dict[str, dict]:
    """``{"extraction": {...}, "extraction_canaries": {...}}`` (either may be empty)."""
    out: dict[str, dict] = {"extraction": {}, "extraction_canaries": {}}
    for r in rows:
        base, key, val = split_task(r["task"])
        if base not in out:
            continue  # not a task of docs/records.md's extraction family
        tree = out[base]
        prefix = (r.get("extra") or {}).get("prefix_len")
        if key is None:
            _extraction_entry(tree, r)
            if prefix is not None and base == "extraction":
                tree[f"{r['metric']}@{prefix}"] = r["value"]
        elif key == "prefix_len":
            tree[f"{r['metric']}@{val}"] = r["value"]
            _extraction_entry(tree.setdefault("by_prefix_len", {}).setdefault(str(val), {}), r)
        elif key == "repeats":
            _extraction_entry(tree.setdefault("by_repeats", {}).setdefault(str(val), {}), r)
    return out


def exposure_tree(rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for r in rows:
        _, key, val = split_task(r["task"])
        if key is None:
            name = {"exposure": "mean"}.get(r["metric"], r["metric"])
            out[name] = r["value"]
            if r.get("n") is not None:
                out["n"] = r["n"]
        elif key == "max":
            out["max"] = r["value"]
        elif key == "repeats":
            entry = out.setdefault("by_repeats", {}).setdefault(str(val), {})
            entry["mean"] = r["value"]
            if (r.get("extra") or {}).get("max") is not None:
                entry["max"] = r["extra"]["max"]
            if r.get("n") is not None:
                entry["n"] = r["n"]
    return out


def untargeted_tree(rows: list[dict]) -> dict:
    """``{ranking: {metric: value}}``; a task ``untargeted@<ranking>`` names its ranking after the ``@``, and
    the plain ``untargeted`` task's metrics (overall rates) sit at the top."""
    out: dict[str, Any] = {}
    for r in rows:
        base, _, ranking = r["task"].partition("@")
        if base == "untargeted" and not ranking:
            out[r["metric"]] = r["value"]
        else:
            out.setdefault(ranking or base, {})[r["metric"]] = r["value"]
    return out


def capability_tree(rows: list[dict]) -> dict:
    """``{family: {"accuracy", "accuracy_ci", "n", other metrics}}`` at one point."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["family"], {})
        entry[r["metric"]] = r["value"]
        if r["metric"] == "accuracy":
            if r.get("ci"):
                entry["accuracy_ci"] = list(r["ci"])
            entry["n"] = r.get("n")
            entry["task"] = r.get("task")
    return out


def lab_tree(rows: list[dict]) -> dict:
    return {r["task"]: r["value"] for r in rows}


def unlearning_tree(rows: list[dict]) -> dict:
    """``{label: {measurement: value, <capability family>: accuracy, "privleak", "forget_quality"}}`` at one point.

    Both derived against a ``retrain`` checkpoint measured at the same point: PrivLeak (MUSE,
    :func:`auditor.stats.metrics.privleak`, in percent) from ``forget_auc``, and forget quality (TOFU).
    """
    labels = list(dict.fromkeys(str(r.get("checkpoint")) for r in rows if r["family"] == "unlearning"))
    out: dict[str, dict] = {lb: {} for lb in labels}
    ratios: dict[str, list[float]] = {}
    for r in rows:
        lb = str(r.get("checkpoint"))
        if lb not in out:
            continue
        if r["family"] == "unlearning":
            out[lb][r["task"]] = r["value"]
            if r["task"] == "truth_ratio_forget" and (r.get("extra") or {}).get("truth_ratios"):
                ratios[lb] = r["extra"]["truth_ratios"]
        elif is_capability(r) and r["metric"] == "accuracy":
            out[lb][r["family"]] = r["value"]
    ref = out.get("retrain", {}).get("forget_auc")
    if _num(ref) and ref:
        for row in out.values():
            if _num(row.get("forget_auc")):
                row["privleak"] = privleak(row["forget_auc"], ref)
    if "retrain" in ratios:
        for lb, tr in ratios.items():
            out[lb]["forget_quality"] = forget_quality(tr, ratios["retrain"])
    return out


def forget_quality(truth_ratios: list[float], retrain_truth_ratios: list[float]) -> float:
    """TOFU's forget quality (Maini et al. 2024, arXiv:2401.06121): the p-value of the two-sample KS test
    between the model's and the retrain model's forget-set truth ratios (open-unlearning
    ``src/evals/metrics/privacy.py``, ``ks_test``; per-question truth ratios from
    :mod:`auditor.unlearning.tofu`). High (near 1) = indistinguishable from the retrain model."""
    return float(ks_2samp(truth_ratios, retrain_truth_ratios).pvalue)


def point_tree(rows: list[dict], all_rows: list[dict] | None = None) -> dict:
    """Every family's figures at one point; ``all_rows`` (every checkpoint, same point) feeds ``unlearning``."""
    fam: dict[str, list[dict]] = {}
    for r in rows:
        key = "capability" if is_capability(r) else r["family"]
        fam.setdefault(key, []).append(r)
    tree: dict[str, Any] = {}
    if fam.get("mia"):
        tree["mia"] = mia_tree(fam["mia"])
    tree.update(extraction_tree(fam.get("extraction", [])))
    tree["exposure"] = exposure_tree(fam.get("exposure", []))
    tree["untargeted"] = untargeted_tree(fam.get("untargeted", []))
    tree["capability"] = capability_tree(fam.get("capability", []))
    tree["lab"] = lab_tree(fam.get("lab", []))
    tree["unlearning"] = unlearning_tree(rows if all_rows is None else all_rows)
    return {k: v for k, v in tree.items() if v}
