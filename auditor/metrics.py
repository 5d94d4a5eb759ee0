"""Binary-classification metrics for membership scores (higher score = more likely a member)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from auditor.errors import ConfigError, InputError


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
    stat=auc,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat``, resampling members and non-members separately (seeded)."""
    if n_boot < 1 or seed < 0:
        raise ConfigError(f"the bootstrap needs n_boot >= 1 and seed >= 0, got n_boot={n_boot}, seed={seed}")
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    vals = [stat(m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)]) for _ in range(n_boot)]
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def membership_metrics(members: np.ndarray, nonmembers: np.ndarray, n_boot: int, seed: int) -> dict:
    """AUC with its bootstrap CI, TPR at 1% and 0.1% FPR, best accuracy and the class sizes of one score."""
    lo, hi = bootstrap_ci(members, nonmembers, n_boot=n_boot, seed=seed)
    return {
        "auc": auc(members, nonmembers),
        "auc_ci": [lo, hi],
        "tpr@1%fpr": tpr_at_fpr(members, nonmembers, 0.01),
        "tpr@0.1%fpr": tpr_at_fpr(members, nonmembers, 0.001),
        "accuracy": best_accuracy(members, nonmembers),
        "n_members": int(members.size),
        "n_nonmembers": int(nonmembers.size),
    }


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return (0.0, 1.0)
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


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


def privleak(forget_auc: float, retrain_auc: float | None) -> float | None:
    """PrivLeak (Shi et al. 2024, MUSE): (AUC - AUC_retrain) / AUC_retrain; None without a retrain AUC."""
    return (forget_auc - retrain_auc) / retrain_auc if retrain_auc else None


def percentiles(scores: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    """Each score's percentile among ``reference`` (fraction of reference scores <= it)."""
    ref = np.sort(np.asarray(reference, dtype=float))
    return np.searchsorted(ref, np.asarray(scores, dtype=float), side="right") / max(1, ref.size)


def onion_counts(
    p0: Sequence[float], p1: Sequence[float], v0: Sequence[float], v1: Sequence[float], margin: float
) -> dict:
    """The onion check (Carlini et al. 2022): texts (aligned arrays, before -> after) whose MIA percentile
    (``p``) or verbatim similarity (``v``, NaN = not measured) rose by more than ``margin``."""
    p0a, p1a = np.asarray(p0, dtype=float), np.asarray(p1, dtype=float)
    mia_up = p1a - p0a > margin
    verb_up = np.nan_to_num(np.asarray(v1, dtype=float) - np.asarray(v0, dtype=float)) > margin
    return {
        "n_retain": int(p0a.size),
        "more_exposed_mia": int(mia_up.sum()),
        "more_extractable": int(verb_up.sum()),
        "more_exposed_any": int((mia_up | verb_up).sum()),
        "mean_percentile_change": float((p1a - p0a).mean()) if p0a.size else 0.0,
    }
