"""Binary-classification metrics for membership scores (higher score = more likely a member).

Intervals: :mod:`auditor.stats.intervals` (Wilson for proportions, a guarded percentile bootstrap for AUC and
TPR at FPR: None with a ``<figure>_ci_note`` below :data:`~auditor.stats.intervals.MIN_PER_CLASS` per class)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import rankdata

from auditor.errors import ConfigError, InputError
from auditor.stats.bootstrap import bootstrap_figures, bootstrap_figures_many, max_false_positives
from auditor.stats.intervals import membership_ci, percentile_ci

log = logging.getLogger(__name__)


def auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC as the Mann-Whitney probability P(member > non-member) + 0.5 P(tie)."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        raise InputError("AUC needs at least one member and one non-member score")
    ranks = rankdata(np.concatenate([m, n]))  # average ranks over ties, in C (no Python loop)
    u = ranks[: m.size].sum() - m.size * (m.size + 1) / 2.0
    return float(u / (m.size * n.size))


def roc_curve(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1); member = score >= threshold."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        raise InputError("a ROC curve needs at least one member and one non-member score")
    scores = np.concatenate([m, n])
    labels = np.concatenate([np.ones(m.size), np.zeros(n.size)])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(1 - y)[last]
    return np.r_[0.0, fp / n.size], np.r_[0.0, tp / m.size]


def tpr_at_fpr(member_scores: Sequence[float], nonmember_scores: Sequence[float], max_fpr: float) -> float:
    """Highest TPR over thresholds whose FPR is at most ``max_fpr`` (the LiRA convention)."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def bootstrap_ci(
    member_scores: Sequence[float],
    nonmember_scores: Sequence[float],
    stat: Callable[[np.ndarray, np.ndarray], float] = auc,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat``, resampling members and non-members separately (seeded).

    The raw interval, unguarded: at small n it can be a point. Reported figures go through
    :func:`auditor.stats.intervals.membership_ci` (None below the minimum class size, never of width 0).
    ``auc`` (the default) runs vectorized (:func:`bootstrap_figures`); any other ``stat`` is called once per
    resample on the same random stream."""
    if stat is auc:
        return percentile_ci(bootstrap_figures(member_scores, nonmember_scores, n_boot, seed)[0], level)
    if n_boot < 1 or seed < 0:
        raise ConfigError(f"the bootstrap needs n_boot >= 1 and seed >= 0, got n_boot={n_boot}, seed={seed}")
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    vals = [stat(m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)]) for _ in range(n_boot)]
    return percentile_ci(np.asarray(vals), level)


TPR_FPRS = {"tpr@1%fpr": 0.01, "tpr@0.1%fpr": 0.001}  # the reported TPR-at-FPR figures


def zero_fp_only(n_nonmembers: int, max_fpr: float) -> bool:
    """True when a single false positive already exceeds ``max_fpr`` (fewer than 1/FPR non-members): the
    TPR at that FPR is then the TPR at zero false positives."""
    return max_false_positives(n_nonmembers, max_fpr) == 0


def low_n_note(metric: str, n_nonmembers: int) -> str:
    """One sentence for a TPR-at-FPR figure measured on fewer than 1/FPR non-members."""
    fpr = TPR_FPRS[metric]
    return (
        f"TPR@{fpr * 100:g}% FPR with {n_nonmembers:,} non-members: fewer than {round(1 / fpr):,}, so it is "
        "the TPR at zero false positives"
    )


def membership_metrics(
    members: np.ndarray, nonmembers: np.ndarray, n_boot: int, seed: int, *, warn: bool = True
) -> dict:
    """AUC, TPR at 1% and 0.1% FPR (each with a bootstrap CI from the same resamples, Efron & Tibshirani 1993;
    None with a ``<figure>_ci_note`` when fewer than 5 members or non-members, the Wilson interval when every
    resample agrees: :func:`auditor.stats.intervals.membership_ci`), best accuracy and the class sizes of one
    score. ``<tpr>_low_n`` marks a TPR-at-FPR measured on fewer than 1/FPR non-members; with ``warn`` one
    warning names them."""
    return membership_metrics_many([(members, nonmembers)], n_boot, seed, warn=warn)[0]


def membership_metrics_many(
    splits: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int, seed: int, *, warn: bool = True
) -> list[dict]:
    """:func:`membership_metrics` of several scores (attacks) of the same members and non-members, from one
    set of bootstrap resamples (each score's figures equal its own call's on the same seed); one warning."""
    boots = bootstrap_figures_many(splits, n_boot, seed, tuple(TPR_FPRS.values()))
    out = []
    for (members, nonmembers), (aucs, tprs) in zip(splits, boots, strict=True):
        n_m, n_n = int(members.size), int(nonmembers.size)
        res: dict = {"auc": auc(members, nonmembers)}
        _put_ci(res, "auc", membership_ci(res["auc"], aucs, n_m, n_n, min(n_m, n_n)))
        for (name, fpr), vals in zip(TPR_FPRS.items(), tprs, strict=True):
            res[name] = tpr_at_fpr(members, nonmembers, fpr)
            _put_ci(res, name, membership_ci(res[name], vals, n_m, n_n, n_m))
            res[f"{name}_low_n"] = zero_fp_only(nonmembers.size, fpr)
        res |= {
            "accuracy": best_accuracy(members, nonmembers),
            "n_members": int(members.size),
            "n_nonmembers": int(nonmembers.size),
        }
        out.append(res)
    low = [low_n_note(k, splits[0][1].size) for k in TPR_FPRS if out[0][f"{k}_low_n"]]
    if warn and low:
        log.warning("%s.", "; ".join(low))
    return out


def _put_ci(res: dict, name: str, ci_note: tuple[list[float] | None, str | None]) -> None:
    """``res[name_ci]`` (None when not estimable) and, when there is one, ``res[name_ci_note]``."""
    ci, note = ci_note
    res[f"{name}_ci"] = ci
    if note:
        res[f"{name}_ci_note"] = note


def best_accuracy(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """Accuracy of the best single threshold (member = score >= threshold)."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    p, n = len(member_scores), len(nonmember_scores)
    return float(((tpr * p + (1 - fpr) * n) / (p + n)).max())


def threshold_5pct(sparsity: list[float], accuracy: list[float], tolerance: float = 0.05) -> float | None:
    """Jin et al.'s measure: the largest ``s`` with accuracy >= (1 - tolerance) * dense at every sparsity <= s."""
    pts = sorted(zip(sparsity, accuracy, strict=True))
    if not pts or pts[0][0] != 0:
        raise ValueError("threshold_5pct needs the dense point (sparsity 0)")
    dense = pts[0][1]
    if dense <= 0:
        return None
    best = 0.0
    for s, a in pts:
        if a < (1 - tolerance) * dense - 1e-12:
            break
        best = s
    return best
