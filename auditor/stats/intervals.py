"""95% intervals that stay honest at every sample size: none collapses to a point, none claims certainty.

* Proportions (k of n: extraction rates, verbatim rates, accuracies, recall) use the Wilson score interval
  (Wilson 1927, "Probable inference, the law of succession, and statistical inference", JASA 22:209-212):
  the set of p whose score test |k/n - p| <= z sqrt(p(1 - p) / n) does not reject. It has positive width
  for every n >= 1 and every k (also k = 0 and k = n), and equals
  ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
* Means of values in [0, 1] (token match, similarity, BLEU, ROUGE) use the Wilson interval at the observed
  mean with n items (:func:`bounded_mean_ci`). A variable in [0, 1] with mean p has variance at most
  p(1 - p) (since X^2 <= X), the Bernoulli variance the Wilson score test assumes, so the interval is
  conservative: never narrower than the score interval with the true variance, and never of width 0 (a
  normal interval from the sample standard deviation is a point when the values are all equal).
* The bootstrap AUC and TPR at FPR of membership inference (:func:`membership_ci`) are not estimable with
  fewer than :data:`MIN_PER_CLASS` members or non-members (the interval is None, with a note); a bootstrap
  whose every resample gave the same figure falls back to the Wilson interval at the figure (see there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from auditor.errors import InputError

# Fewer members or non-members than this: the bootstrap interval of AUC / TPR at FPR is not estimable. A class
# of n texts has C(2n - 1, n) distinct bootstrap resamples (3, 10, 35, 126 for n = 2..5), and a resample is one
# text repeated with probability n^(1 - n) (0.5, 0.11, 0.016, 0.0016): below 5 the 2.5% and 97.5% percentiles are
# read off a handful of distinct values, often all equal, and the interval would claim a precision it lacks.
MIN_PER_CLASS = 5


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + 0.5 * level)


def wilson_ci(p_hat: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval at an observed proportion ``p_hat`` of ``n`` items; (0, 1) when n = 0.

    Written as scipy's ``binomtest(...).proportion_ci(method="wilson")`` computes it (same rounding)."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0.0 <= p_hat <= 1.0:
        raise InputError(f"a Wilson interval needs a proportion in [0, 1], got {p_hat}")
    z = _z(level)
    z2 = z * z
    denom = 2 * (n + z2)
    centre = (2 * n * p_hat + z2) / denom
    half = z / denom * math.sqrt(4 * n * p_hat * (1 - p_hat) + z2)
    lo = 0.0 if p_hat == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p_hat == 1.0 else min(1.0, centre + half)
    return float(lo), float(hi)


def proportion_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval for ``successes`` of ``n`` (a k-of-n figure); (0, 1) when n = 0.

    Positive width for every n >= 1 and every k; equal to scipy's Wilson interval."""
    if n > 0 and not 0 <= successes <= n:
        raise InputError(f"a proportion needs 0 <= successes <= n, got {successes} of {n}")
    return wilson_ci(successes / n if n > 0 else 0.0, n, level)


def bounded_mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Interval for the mean of values in [0, 1]: the Wilson (1927) interval at the observed mean with n items.

    Conservative: a variable in [0, 1] with mean p has variance <= p(1 - p) (X^2 <= X, so E[X^2] <= p), the
    Bernoulli variance the Wilson score interval assumes at each candidate p, so the interval is at least as
    wide as the score interval with the true variance. Unlike a normal interval from the sample standard
    deviation it has positive width at every n >= 1, also when every value is equal; (0, 1) when empty."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return (0.0, 1.0)
    if np.isnan(v).any() or v.min() < -1e-12 or v.max() > 1 + 1e-12:
        raise InputError("bounded_mean_ci needs values in [0, 1]")
    return wilson_ci(float(np.clip(v.mean(), 0.0, 1.0)), int(v.size), level)


def class_size_note(n_members: int, n_nonmembers: int) -> str | None:
    """Why a membership interval is not estimable (fewer than :data:`MIN_PER_CLASS` in a class), or None."""
    if n_members >= MIN_PER_CLASS and n_nonmembers >= MIN_PER_CLASS:
        return None
    return (
        f"not estimable: {n_members} member{'s' * (n_members != 1)}, {n_nonmembers} "
        f"non-member{'s' * (n_nonmembers != 1)} (needs >= {MIN_PER_CLASS} each)"
    )


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap values (Efron & Tibshirani 1993, ch. 13)."""
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def membership_ci(
    point: float, boots: np.ndarray, n_members: int, n_nonmembers: int, n_bound: int, level: float = 0.95
) -> tuple[list[float] | None, str | None]:
    """(interval, note) of a membership figure (AUC, TPR at FPR) from its bootstrap values.

    * fewer than :data:`MIN_PER_CLASS` members or non-members: (None, "not estimable: ...");
    * the percentile bootstrap interval (Efron & Tibshirani 1993) otherwise, unless every resample gave the
      same figure (width 0: the bootstrap's known failure at the boundary, e.g. a perfectly separating attack).
      Then the Wilson (1927) interval at the figure with ``n_bound`` items, and a note saying so. For the AUC
      ``n_bound`` = min(members, non-members): Var(AUC) <= A(1 - A) / min(m, n) (van Dantzig 1951; Birnbaum &
      Klose 1957, Ann. Math. Statist. 28:933-945), the Bernoulli variance of min(m, n) items, so the Wilson
      interval is conservative. For a TPR ``n_bound`` = the members (the share of them above the threshold).

    NaN bootstrap values (NaN scores) give the NaN interval, as before."""
    note = class_size_note(n_members, n_nonmembers)
    if note:
        return None, note
    lo, hi = percentile_ci(boots, level)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi > lo or not math.isfinite(point):
        return [lo, hi], None
    what = f"every bootstrap resample gave {point:.3f}"
    return list(wilson_ci(min(1.0, max(0.0, point)), n_bound, level)), f"{what}; Wilson interval at n = {n_bound}"
