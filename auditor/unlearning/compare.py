"""The unlearning comparison's math, one place for the pipeline (``unlearning.json``) and the report (which renders).

Pure functions over records, per-text sample rows and arrays:

* PrivLeak (MUSE, Shi et al. 2024, arXiv:2407.06460): the forget-set MIA AUC relative to the retrained oracle's,
  in percent (:func:`privleak`); TOFU's forget quality (Maini et al. 2024, arXiv:2401.06121) lives beside the
  records' tree in :func:`auditor.unlearning.figures.forget_quality`.
* The onion check (Carlini et al. 2022, "The privacy onion effect"), read from the dense point's per-text samples
  (``samples/unlearning.jsonl``): a retain text became more exposed after unlearning when its MIA percentile among
  the same checkpoint's holdout scores (:func:`percentiles`) rose by more than a margin from the base model, or its
  VerbMem ROUGE-L (MUSE) did (:func:`onion_counts`, :func:`onion`, :func:`onion_table`).
* The comparison table (:func:`summarize`) and the resurfacing curves (:func:`resurfacing`): forget-set VerbMem /
  KnowMem (MUSE) at every checkpoint's pruned points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.family import DENSE

ONION_KEYS = ("n_retain", "more_exposed_mia", "more_extractable", "more_exposed_any", "mean_percentile_change")


def privleak(forget_auc: float, retrain_auc: float | None) -> float | None:
    """PrivLeak % (MUSE, arXiv:2407.06460): ((1 - auc) - (1 - auc_r)) / (1 - auc_r) x 100; None without auc_r < 1.

    ``auc`` = P(forget text scored more member-like than holdout); MUSE's AUC (muse_bench ``eval.py``,
    ``forget_holdout_Min-40%``) labels holdout as members, i.e. 1 - auc. 0 = the retrain model; negative =
    forget set still detectable (MUSE's target model: about -100); positive = over-unlearned."""
    if retrain_auc is None or retrain_auc >= 1:
        return None
    return ((1 - forget_auc) - (1 - retrain_auc)) / (1 - retrain_auc) * 100


def percentiles(scores: Sequence[float], reference: Sequence[float]) -> np.ndarray:
    """Each score's percentile among ``reference`` (fraction of reference scores <= it): the onion check's MIA
    exposure of a retain text among the holdout texts (Carlini et al. 2022)."""
    ref = np.sort(np.asarray(reference, dtype=float))
    return np.searchsorted(ref, np.asarray(scores, dtype=float), side="right") / max(1, ref.size)


def onion_counts(
    p0: Sequence[float], p1: Sequence[float], v0: Sequence[float], v1: Sequence[float], margin: float
) -> dict:
    """The onion check (Carlini et al. 2022): texts (aligned arrays, before -> after) whose MIA percentile
    (``p``) or verbatim similarity (``v``, MUSE's VerbMem ROUGE-L; NaN = not measured) rose by more than
    ``margin``."""
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


def _dense(row: Mapping) -> bool:
    return row.get("method", DENSE) in (None, DENSE)


def per_text(samples: Iterable[Mapping], label: str, kind: str, dataset: str) -> dict[str, float]:
    """``{id: value}`` of one checkpoint's dense-point samples of one kind (``mia``, ``verbatim``, ...) and set
    (``forget``, ``retain``, ``holdout``), in the samples' order."""
    return {
        str(r["id"]): float(r["value"])
        for r in samples
        if r.get("checkpoint") == label
        and _dense(r)
        and r.get("kind") == kind
        and r.get("set") == dataset
        and r.get("value") is not None
    }


@dataclass(frozen=True)
class RetainExposure:
    """One checkpoint's per retain text exposure: MIA percentile among its holdout scores and VerbMem ROUGE-L."""

    percentiles: dict[str, float]
    verbatim: dict[str, float]


def retain_exposure(samples: Sequence[Mapping], label: str) -> RetainExposure:
    """Each retain text's MIA score as a percentile among the same checkpoint's holdout scores, and its VerbMem
    (the onion check's two readings, Carlini et al. 2022)."""
    ref = list(per_text(samples, label, "mia", "holdout").values())
    retain = per_text(samples, label, "mia", "retain")
    pct = dict(zip(retain, percentiles(list(retain.values()), ref).tolist(), strict=True))
    return RetainExposure(pct, per_text(samples, label, "verbatim", "retain"))


def onion(base: RetainExposure, after: RetainExposure, margin: float) -> dict:
    """:func:`onion_counts` of the retain texts measured on both checkpoints (matched by id, in the base's order;
    a text without VerbMem counts as not measured)."""
    ids = [i for i in base.percentiles if i in after.percentiles]
    nan = float("nan")
    return onion_counts(
        [base.percentiles[i] for i in ids],
        [after.percentiles[i] for i in ids],
        [base.verbatim.get(i, nan) for i in ids],
        [after.verbatim.get(i, nan) for i in ids],
        margin,
    )


def onion_table(samples: Sequence[Mapping], labels: Iterable[str], margin: float, base: str = "base") -> dict:
    """``{label: onion counts}`` for every checkpoint other than ``base``, from the per-text samples: how many
    retain texts became more exposed than on ``base`` (Carlini et al. 2022). The pipeline writes these to
    ``unlearning.json``; the report renders the rows with ``n_retain`` > 0."""
    ref = retain_exposure(samples, base)
    return {lb: onion(ref, retain_exposure(samples, lb), margin) for lb in labels if lb != base}


def summarize(figures: Mapping[str, Mapping], onions: Mapping[str, dict], *, has_retrain: bool) -> dict[str, dict]:
    """The comparison table: each checkpoint's figures (VerbMem / KnowMem / forget AUC, MUSE; truth ratio, forget
    quality and model utility, TOFU), PrivLeak against the ``retrain`` model (MUSE; None without one) and the
    onion counts against the base."""
    ref_auc = figures["retrain"]["forget_auc"] if has_retrain else None
    table = {}
    for label, m in figures.items():
        row = {k: v for k, v in m.items() if not isinstance(v, list | dict)}
        row["privleak"] = privleak(m["forget_auc"], ref_auc)
        if label in onions:
            row["onion"] = onions[label]
        table[label] = row
    return table


def resurfacing(records: Iterable[Mapping]) -> dict[str, dict]:
    """``{checkpoint: {"<method>@<sparsity>": {figure: value, "actual_sparsity": s}}}``: the ``unlearning``
    family's figures at every pruned point (forget-set VerbMem / KnowMem, MUSE): what resurfaces after pruning."""
    out: dict[str, dict] = {}
    for r in records:
        if r["family"] == "unlearning" and r["method"] != DENSE:
            pts = out.setdefault(r["checkpoint"], {}).setdefault(f"{r['method']}@{r['requested_sparsity']:g}", {})
            pts[r["task"]] = r["value"]
            pts["actual_sparsity"] = r["sparsity"]
    return out
