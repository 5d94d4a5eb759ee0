"""The forecast's statistics: pure functions of arrays (no model, no files).

Biderman et al. 2023 ("Emergent and Predictable Memorization in Large Language Models", NeurIPS,
arXiv:2304.11158) forecast the set of sequences a final model memorizes from the set an early checkpoint
(or a smaller model) memorizes, and judge the forecast by

* precision = |P & T| / |P|: of the sequences the early model memorizes (P, "predicted"), the fraction the
  final model memorizes too (T, "true"); undefined (None) when the early model memorizes nothing (0/0);
* recall = |P & T| / |T|: of the sequences the final model memorizes, the fraction that were predicted;
  undefined (None) when the final model memorizes nothing (0/0).

A continuous early statistic (oriented so that higher predicts "memorized") is judged by its ROC AUC against
the final model's labels (:func:`auditor.stats.metrics.auc`, the Mann-Whitney probability that a memorized
sequence scores above a non-memorized one, ties counted half), with a percentile bootstrap 95% CI guarded as
the MIA's (:func:`auditor.stats.intervals.membership_ci`: None, with ``ci_note``, when fewer than 5 sequences
are memorized or fewer than 5 are not; Wilson's interval at the AUC when every resample agrees); the AUC is
undefined (None) unless both classes are present. Precision and recall carry the Wilson (1927) score interval
of their k of n (``precision_ci``, ``recall_ci``; None where the figure is 0/0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from auditor.errors import InputError
from auditor.stats.bootstrap import bootstrap_figures
from auditor.stats.intervals import MIN_PER_CLASS, membership_ci, proportion_ci
from auditor.stats.metrics import auc


def _binary(x: np.ndarray | list, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise InputError(f"{name} must be one label per example (a 1-d array), got shape {a.shape}")
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        raise InputError(f"{name} must hold 0/1 or True/False labels")
    return a.astype(bool)


def precision_recall(predicted: np.ndarray | list, actual: np.ndarray | list) -> dict:
    """Precision, recall and the counts behind them, with a note for each 0/0 (left as None)."""
    p, t = _binary(predicted, "predicted"), _binary(actual, "actual")
    if p.shape != t.shape:
        raise InputError(f"{p.size} predictions but {t.size} final labels; give one of each per example")
    n_pred, n_true, n_both = int(p.sum()), int(t.sum()), int((p & t).sum())
    notes = []
    if n_pred == 0:
        notes.append("precision undefined (0/0): the early model memorizes none of the examples")
    if n_true == 0:
        notes.append("recall undefined (0/0): the final model memorizes none of the examples")
    return {
        "n": int(p.size),
        "n_predicted": n_pred,
        "n_true": n_true,
        "n_both": n_both,
        "precision": n_both / n_pred if n_pred else None,
        "precision_ci": list(proportion_ci(n_both, n_pred)) if n_pred else None,
        "recall": n_both / n_true if n_true else None,
        "recall_ci": list(proportion_ci(n_both, n_true)) if n_true else None,
        "base_rate": n_true / p.size if p.size else None,  # the precision of a forecast that picks at random
        "notes": notes,
    }


def predictor_auc(scores: np.ndarray | list, actual: np.ndarray | list, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUC of ``scores`` (higher = predicts memorized; NaN = not measured, left out) against the final labels,
    with a bootstrap 95% CI; ``auc`` and ``ci`` are None (and ``note`` says why) unless both classes occur, and
    ``ci`` alone is None (``ci_note`` says why) with fewer than 5 of either class."""
    s = np.asarray(scores, dtype=np.float64)
    t = _binary(actual, "actual")
    if s.shape != t.shape:
        raise InputError(f"{s.size} scores but {t.size} final labels; give one of each per example")
    keep = ~np.isnan(s)
    pos, neg = s[keep & t], s[keep & ~t]
    out: dict = {"n": int(keep.sum()), "n_pos": int(pos.size), "auc": None, "ci": None}
    if pos.size == 0 or neg.size == 0:
        which = "none" if pos.size == 0 else "all"
        out["note"] = f"AUC undefined: the final model memorizes {which} of the {out['n']} examples measured"
        return out
    out["auc"] = auc(pos, neg)
    if min(pos.size, neg.size) < MIN_PER_CLASS:
        out["ci_note"] = (
            f"AUC 95% CI not estimable: {pos.size} memorized, {neg.size} not memorized examples "
            f"(needs >= {MIN_PER_CLASS} each)"
        )
        return out
    boots = bootstrap_figures(pos, neg, n_boot=n_boot, seed=seed)[0]  # the stream of bootstrap_ci's AUC
    out["ci"], note = membership_ci(out["auc"], boots, int(pos.size), int(neg.size), int(min(pos.size, neg.size)))
    if note:  # Wilson's interval, because every resample agreed
        out["ci_note"] = f"AUC 95% CI: {note}"
    return out


def forecast_stats(
    predicted: np.ndarray | list,
    actual: np.ndarray | list,
    scores: Mapping[str, np.ndarray | list],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """:func:`precision_recall` of the binary forecast plus ``auc``: :func:`predictor_auc` per named score."""
    out = precision_recall(predicted, actual)
    out["auc"] = {name: predictor_auc(s, actual, n_boot, seed) for name, s in scores.items()}
    return out
