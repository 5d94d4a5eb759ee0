"""A run's headline figures as one nested mapping: what the gate addresses and the report tabulates.

Built from the run directory's ``records.jsonl`` only (``docs/records.md``). At the dense point::

    mia.<attack>.<metric>                          auc, auc_ci, tpr@1%fpr, tpr@0.1%fpr, accuracy, n_members, ...
    extraction.exact_extraction_rate@<K>           also approx_extraction_rate@<K>, token_match@<K>
    extraction.exact_extraction_rate               the headline prefix length (also _ci, n, ...)
    extraction.by_repeats.<R>.<metric>             by number of repeats in training
    extraction_canaries.<metric>                   canary secrets greedily decoded from their prefixes
    extraction_canaries.by_repeats.<R>.<metric>
    exposure.mean|max|rank1_rate|max_possible      canary exposure in bits
    exposure.by_repeats.<R>.mean|max
    untargeted.<ranking>.<metric>
    capability.<family>.accuracy                   dense accuracy (also accuracy_ci, n)
    capability.<family>.threshold_5pct.<method>    Jin et al.'s largest sparsity within 5% of dense
    lab.<figure>                                   the lab's figures, when the run measured them
    unlearning.<label>.<metric>                    an unlearning comparison (verbmem_forget, privleak, ...)

and every pruned point's figures, the same tree, under ``points.<method>.<requested sparsity>`` (e.g.
``points.magnitude.0.5.extraction.exact_extraction_rate@16``), with its ``actual_sparsity``.

An audit directory (``audit.json``) holds one such run per checkpoint under ``checkpoints/<label>``.

A figure with a 95% interval has a sibling ``<figure>_ci`` list ``[lo, hi]``; the gate reads its bounds as
``<figure>.ci_low`` / ``<figure>.ci_high``. :func:`figure_range` says what values a figure can take at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.capability import curves
from auditor.errors import InputError
from auditor.families import declared, family
from auditor.report.records import AUDIT_INDEX, View, is_audit, is_dense, points, requested, sparsity_key, views
from auditor.store.record_tree import merge

__all__ = [
    "AUDIT_INDEX",
    "capability_curves",
    "checkpoint_figures",
    "collect_figures",
    "figure_range",
    "is_audit",
    "view_figures",
]


def point_tree(rows: list[dict], all_rows: list[dict] | None = None) -> dict:
    """Every family's figures at one point, each family's part built by the family itself (its ``tree``, from
    the registry); ``all_rows`` (every checkpoint, same point) is given to families that compare checkpoints.
    Records of a family this process does not know are left out."""
    by_family: dict[str, list[dict]] = {}
    for r in rows:
        by_family.setdefault(str(r.get("family")), []).append(r)
    tree: dict[str, Any] = {}
    for name, fam_rows in by_family.items():
        fam = family(name)
        if fam is not None:
            merge(tree, fam.tree(fam_rows, rows if all_rows is None else all_rows))
    return {k: v for k, v in tree.items() if v}


def longest_key(node: dict, rest: str) -> str | None:
    """The key of ``node`` that ``rest`` starts with as a whole path step (keys may hold dots, as in
    ``min_k_pp@0.2``: the longest that fits wins), or None."""
    return next((k for k in sorted(node, key=len, reverse=True) if rest == k or rest.startswith(k + ".")), None)


def capability_curves(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """``{family: {method: curve}}`` of the pruned methods, each curve the dense point then the method's points
    with Jin et al.'s ``threshold_5pct``: :func:`auditor.capability.curves.capability_curves`, by family."""
    return curves.by_family(curves.pruned(curves.capability_curves(rows)))


def _same_point(rows: list[dict], method: str, s: float) -> list[dict]:
    return [r for r in rows if not is_dense(r) and r["method"] == method and requested(r) == s]


def view_figures(view: View) -> dict:
    """The figures tree of one checkpoint (see the module docstring)."""
    dense_all = [r for r in view.all_rows if is_dense(r)]
    figs: dict[str, Any] = point_tree([r for r in view.rows if is_dense(r)], dense_all)
    for fam, methods in capability_curves(view.rows).items():
        entry = figs.setdefault("capability", {}).setdefault(fam, {})
        entry["threshold_5pct"] = {m: c["threshold_5pct"] for m, c in methods.items()}
    tree: dict[str, dict] = {}
    for method, pts in points(view.rows).items():
        for s, rows in pts.items():
            sub = point_tree(rows, _same_point(view.all_rows, method, s))
            actual = [r["sparsity"] for r in rows if r.get("sparsity") is not None]
            if actual:
                sub["actual_sparsity"] = actual[0]
            tree.setdefault(method, {})[sparsity_key(s)] = sub
    if tree:
        figs["points"] = tree
    return figs


def run_figures(path: str | Path) -> dict:
    """Figures of a plain run directory's (first) checkpoint."""
    found, _, _ = views(path)
    return view_figures(found[0])


def checkpoint_figures(path: str | Path) -> tuple[dict[str, dict], str, str | None]:
    """``({label: figures}, primary label, baseline label or None)`` for an audit or a plain run."""
    found, primary, baseline = views(path)
    return {v.label: view_figures(v) for v in found}, primary, baseline


def collect_figures(path: str | Path) -> tuple[dict, dict | None]:
    """The primary checkpoint's figures and the baseline's (or None) — what ``auditor gate`` checks."""
    figs, primary, baseline = checkpoint_figures(path)
    if not figs.get(primary):
        raise InputError(f"{path} holds no figures yet (no records in records.jsonl); run it first")
    return figs[primary], (figs.get(baseline) if baseline else None)


def figure_range(path: str, ceiling: float | None = None) -> tuple[float, float] | None:
    """The values the figure at ``path`` can take, ``(lo, hi)``, as its family declares them, or None when the
    path names no bounded figure. A figure bounded by a sibling (exposure, by ``max_possible``: log2 of the
    number of candidate secrets) takes ``ceiling`` as its upper end when it is known."""
    fig = declared(path)
    if fig is None or fig.range is None:
        return None
    lo, hi = fig.range
    if fig.ceiling is not None and ceiling is not None:
        hi = float(ceiling)
    return (lo, hi)
