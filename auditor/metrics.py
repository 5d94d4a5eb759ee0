"""Binary-classification metrics for membership scores (higher score = more likely a member)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy.stats import rankdata

from auditor.errors import ConfigError, InputError

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


def _dense_codes(m: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each score's index among the pooled distinct scores (ascending; equal scores share one code)."""
    values, inverse = np.unique(np.concatenate([m, n]), return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse[: m.size], inverse[m.size :], int(values.size)


def _counts(codes: Iterable[np.ndarray], k: int, b: int) -> np.ndarray:
    """(b, k) counts of each code in each of ``b`` arrays of codes."""
    out = np.empty((b, k), dtype=np.int64)
    for i, row in enumerate(codes):
        out[i] = np.bincount(row, minlength=k)
    return out


def max_false_positives(n_nonmembers: int, max_fpr: float) -> int:
    """The most false positives whose FPR is at most ``max_fpr`` (+1e-12, as :func:`tpr_at_fpr` compares)."""
    limit = max_fpr + 1e-12
    q = min(n_nonmembers, max(0, int(np.floor(limit * n_nonmembers))))
    while q < n_nonmembers and (q + 1) / n_nonmembers <= limit:
        q += 1
    while q > 0 and q / n_nonmembers > limit:
        q -= 1
    return q


def _figures_from_counts(c_m: np.ndarray, c_n: np.ndarray, max_fprs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """AUC and TPR at each FPR of every row, from (B, k) counts of members and non-members per distinct score.

    AUC: 2U = 2 sum_v c_m[v] (non-members below v) + sum_v c_m[v] c_n[v], integer-exact. TPR at FPR: a
    threshold at code v flags what is at or above v, so its false positives fall as v rises; the lowest code
    whose false positives are within budget (a binary search of the running count) has the best TPR, or
    none does and the TPR is 0 (the (0, 0) point), as :func:`tpr_at_fpr` reads the ROC curve."""
    n_m, n_n = int(c_m[0].sum()), int(c_n[0].sum())
    below_n = np.cumsum(c_n, axis=1)
    below_n -= c_n  # non-members strictly below each code
    two_u = 2 * np.einsum("ij,ij->i", c_m, below_n) + np.einsum("ij,ij->i", c_m, c_n)
    tprs = np.empty((len(max_fprs), c_m.shape[0]))
    if max_fprs:  # members at or above each code, with a 0 column past the last code
        at_or_above = np.zeros((c_m.shape[0], c_m.shape[1] + 1), dtype=np.int64)
        at_or_above[:, :-1] = c_m[:, ::-1].cumsum(axis=1)[:, ::-1]
        rows = np.arange(c_m.shape[0])
    for f_i, f in enumerate(max_fprs):
        need = n_n - max_false_positives(n_n, f)  # non-members a threshold must leave below it
        lowest = (below_n < need).sum(axis=1)  # per row: the first code leaving `need` below (rows ascend)
        tprs[f_i] = at_or_above[rows, lowest] / n_m
    return two_u / (2.0 * n_m * n_n), tprs


def resample_figures(
    member_scores: Sequence[float],
    nonmember_scores: Sequence[float],
    member_idx: np.ndarray,
    nonmember_idx: np.ndarray,
    max_fprs: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and TPR at each of ``max_fprs`` for every resample: row ``i`` takes ``member_scores[member_idx[i]]``
    against ``nonmember_scores[nonmember_idx[i]]``. Returns ((B,), (len(max_fprs), B))."""
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    code_m, code_n, k = _dense_codes(m, n)
    idx_m, idx_n = np.atleast_2d(member_idx), np.atleast_2d(nonmember_idx)
    c_m = _counts((code_m[r] for r in idx_m), k, idx_m.shape[0])
    c_n = _counts((code_n[r] for r in idx_n), k, idx_n.shape[0])
    return _figures_from_counts(c_m, c_n, max_fprs)


CHUNK_ELEMENTS = 1 << 21  # resamples per batch x distinct scores: bounds the bootstrap's memory (~16 MiB/array)


def bootstrap_figures(
    member_scores: Sequence[float],
    nonmember_scores: Sequence[float],
    n_boot: int = 1000,
    seed: int = 0,
    max_fprs: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and TPR at each of ``max_fprs`` on ``n_boot`` bootstrap resamples (members and non-members drawn
    separately, with replacement), in batches of resamples, from counts per distinct score.

    Resample ``i`` draws ``rng.integers(0, n_m, n_m)`` then ``rng.integers(0, n_n, n_n)`` from
    ``np.random.default_rng(seed)``: the stream of the earlier one-resample-at-a-time loop."""
    if n_boot < 1 or seed < 0:
        raise ConfigError(f"the bootstrap needs n_boot >= 1 and seed >= 0, got n_boot={n_boot}, seed={seed}")
    m = np.asarray(member_scores, dtype=np.float64)
    n = np.asarray(nonmember_scores, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        raise InputError("the bootstrap needs at least one member and one non-member score")
    if np.isnan(m).any() or np.isnan(n).any():  # as auc() (rankdata): a NaN score leaves every figure NaN
        return np.full(n_boot, np.nan), np.full((len(max_fprs), n_boot), np.nan)
    code_m, code_n, k = _dense_codes(m, n)
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_boot, CHUNK_ELEMENTS // max(k, m.size, n.size)))
    aucs, tprs = np.empty(n_boot), np.empty((len(max_fprs), n_boot))
    draw_m, draw_n = np.empty((batch, m.size), dtype=np.int64), np.empty((batch, n.size), dtype=np.int64)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        for i in range(b):  # one resample's two draws, in the loop's order
            draw_m[i] = rng.integers(0, m.size, m.size)
            draw_n[i] = rng.integers(0, n.size, n.size)
        c_m, c_n = _batch_counts(code_m, draw_m[:b], k), _batch_counts(code_n, draw_n[:b], k)
        aucs[start : start + b], tprs[:, start : start + b] = _figures_from_counts(c_m, c_n, max_fprs)
    return aucs, tprs


def _batch_counts(codes: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """(b, k) counts of each code in each row of drawn indices: one ``bincount`` with a per-row offset."""
    b = draws.shape[0]
    flat = (codes[draws] + (np.arange(b, dtype=np.int64) * k)[:, None]).ravel()
    return np.bincount(flat, minlength=b * k).reshape(b, k)


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap values."""
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    member_scores: Sequence[float],
    nonmember_scores: Sequence[float],
    stat: Callable[[np.ndarray, np.ndarray], float] = auc,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat``, resampling members and non-members separately (seeded).

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
    return (f"TPR@{fpr * 100:g}% FPR with {n_nonmembers:,} non-members: fewer than {round(1 / fpr):,}, so it is "
            "the TPR at zero false positives")  # fmt: skip


def membership_metrics(
    members: np.ndarray, nonmembers: np.ndarray, n_boot: int, seed: int, *, warn: bool = True
) -> dict:
    """AUC, TPR at 1% and 0.1% FPR (each with a bootstrap CI from the same resamples), best accuracy and the
    class sizes of one score. ``<tpr>_low_n`` marks a TPR-at-FPR measured on fewer than 1/FPR non-members;
    with ``warn`` one warning names them (callers scoring several attacks on one split warn once)."""
    aucs, tprs = bootstrap_figures(members, nonmembers, n_boot, seed, tuple(TPR_FPRS.values()))
    out: dict = {"auc": auc(members, nonmembers), "auc_ci": list(percentile_ci(aucs))}
    for (name, fpr), vals in zip(TPR_FPRS.items(), tprs, strict=True):
        out[name] = tpr_at_fpr(members, nonmembers, fpr)
        out[f"{name}_ci"] = list(percentile_ci(vals))
        out[f"{name}_low_n"] = zero_fp_only(nonmembers.size, fpr)
    out |= {"accuracy": best_accuracy(members, nonmembers), "n_members": int(members.size),
            "n_nonmembers": int(nonmembers.size)}  # fmt: skip
    low = [low_n_note(k, nonmembers.size) for k in TPR_FPRS if out[f"{k}_low_n"]]
    if warn and low:
        log.warning("%s.", "; ".join(low))
    return out


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
    """PrivLeak % (MUSE, arXiv:2407.06460): ((1 - auc) - (1 - auc_r)) / (1 - auc_r) x 100; None without auc_r < 1.

    ``auc`` = P(forget text scored more member-like than holdout); MUSE's AUC (muse_bench ``eval.py``,
    ``forget_holdout_Min-40%``) labels holdout as members, i.e. 1 - auc. 0 = the retrain model; negative =
    forget set still detectable (MUSE's target model: about -100); positive = over-unlearned."""
    if retrain_auc is None or retrain_auc >= 1:
        return None
    return ((1 - forget_auc) - (1 - retrain_auc)) / (1 - retrain_auc) * 100


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
