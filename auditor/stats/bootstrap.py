"""The percentile bootstrap of membership figures: AUC and TPR at FPR on resampled members and non-members.

Every resample draws members and non-members separately, with replacement, from ``np.random.default_rng(seed)``
(resample ``i``: ``rng.integers(0, n_m, n_m)`` then ``rng.integers(0, n_n, n_n)``), and its figures come from
counts per distinct score, in batches of resamples (no Python loop per resample, bounded memory). Scores of one
split (several attacks on the same members and non-members) share the draws: :func:`bootstrap_figures_many`
draws each batch once, so every attack's figures are those of :func:`bootstrap_figures` on the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditor.errors import ConfigError, InputError

Figures = tuple[np.ndarray, np.ndarray]  # (B,) AUCs and (len(max_fprs), B) TPRs


def _dense_codes(m: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each score's index among the pooled distinct scores (ascending; equal scores share one code)."""
    values, inverse = np.unique(np.concatenate([m, n]), return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse[: m.size], inverse[m.size :], int(values.size)


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
    two_u = np.einsum("ij,ij->i", c_m, 2 * below_n + c_n)
    tprs = np.empty((len(max_fprs), c_m.shape[0]))
    if max_fprs:  # members strictly below each code: those at or above it are n_m minus them
        below_m = np.cumsum(c_m, axis=1)
        below_m -= c_m
        rows, last = np.arange(c_m.shape[0]), c_m.shape[1] - 1
    for f_i, f in enumerate(max_fprs):
        need = n_n - max_false_positives(n_n, f)  # non-members a threshold must leave below it
        lowest = (below_n < need).sum(axis=1)  # per row: the first code leaving `need` below (rows ascend)
        tprs[f_i] = np.where(lowest > last, 0, n_m - below_m[rows, np.minimum(lowest, last)]) / n_m  # past the last: 0
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
    c_m = _batch_counts(code_m, np.atleast_2d(member_idx), k)
    c_n = _batch_counts(code_n, np.atleast_2d(nonmember_idx), k)
    return _figures_from_counts(c_m, c_n, max_fprs)


CHUNK_ELEMENTS = 1 << 21  # resamples per batch x distinct scores: bounds the bootstrap's memory (~16 MiB/array)


def bootstrap_figures(
    member_scores: Sequence[float],
    nonmember_scores: Sequence[float],
    n_boot: int = 1000,
    seed: int = 0,
    max_fprs: Sequence[float] = (),
) -> Figures:
    """AUC and TPR at each of ``max_fprs`` on ``n_boot`` bootstrap resamples (members and non-members drawn
    separately, with replacement), in batches of resamples, from counts per distinct score.

    Resample ``i`` draws ``rng.integers(0, n_m, n_m)`` then ``rng.integers(0, n_n, n_n)`` from
    ``np.random.default_rng(seed)``: the stream of the earlier one-resample-at-a-time loop."""
    return bootstrap_figures_many([(member_scores, nonmember_scores)], n_boot, seed, max_fprs)[0]


def bootstrap_figures_many(
    splits: Sequence[tuple[Sequence[float], Sequence[float]]],
    n_boot: int = 1000,
    seed: int = 0,
    max_fprs: Sequence[float] = (),
) -> list[Figures]:
    """:func:`bootstrap_figures` of several scores of the same texts (each a (members, non-members) pair of
    equal sizes across pairs): the resamples are drawn once per batch and shared, as the same seed would draw them."""
    if n_boot < 1 or seed < 0:
        raise ConfigError(f"the bootstrap needs n_boot >= 1 and seed >= 0, got n_boot={n_boot}, seed={seed}")
    pairs = [(np.asarray(m, dtype=np.float64), np.asarray(n, dtype=np.float64)) for m, n in splits]
    if not pairs or any(m.size == 0 or n.size == 0 for m, n in pairs):
        raise InputError("the bootstrap needs at least one member and one non-member score")
    n_m, n_n = pairs[0][0].size, pairs[0][1].size
    if any((m.size, n.size) != (n_m, n_n) for m, n in pairs):
        raise InputError("scores bootstrapped together must be of the same members and non-members")
    out = [(np.full(n_boot, np.nan), np.full((len(max_fprs), n_boot), np.nan)) for _ in pairs]
    # as auc() (rankdata): a NaN score leaves every figure NaN
    coded = [(i, *_dense_codes(m, n)) for i, (m, n) in enumerate(pairs) if not (np.isnan(m).any() or np.isnan(n).any())]
    if not coded:
        return out
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_boot, CHUNK_ELEMENTS // max(max(k for *_, k in coded), n_m, n_n)))
    draw_m, draw_n = np.empty((batch, n_m), dtype=np.int64), np.empty((batch, n_n), dtype=np.int64)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        for i in range(b):  # one resample's two draws, in the loop's order
            draw_m[i] = rng.integers(0, n_m, n_m)
            draw_n[i] = rng.integers(0, n_n, n_n)
        for j, code_m, code_n, k in coded:
            c_m, c_n = _batch_counts(code_m, draw_m[:b], k), _batch_counts(code_n, draw_n[:b], k)
            out[j][0][start : start + b], out[j][1][:, start : start + b] = _figures_from_counts(c_m, c_n, max_fprs)
    return out


def _batch_counts(codes: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """(b, k) counts of each code in each row of drawn indices: one ``bincount`` with a per-row offset."""
    b = draws.shape[0]
    flat = (codes[draws] + (np.arange(b, dtype=np.int64) * k)[:, None]).ravel()
    return np.bincount(flat, minlength=b * k).reshape(b, k)
