"""What the ``unlearning`` family's figures mean, and its part of a point's figures tree:
``unlearning.<label>.<measure>`` for every checkpoint of a comparison, with the figures derived against the
``retrain`` oracle measured at the same point: PrivLeak (MUSE, Shi et al. 2024) and forget quality (TOFU,
Maini et al. 2024)."""

from __future__ import annotations

from typing import Any

from scipy.stats import ks_2samp

from auditor.capability.figures import is_capability
from auditor.family import Figure
from auditor.unlearning.compare import privleak

_MUSE = "(MUSE, Shi et al. 2024)"
UNLEARNING_FIGURES: tuple[Figure, ...] = (
    Figure("unlearning.<label>.privleak", "PrivLeak: forget-set MIA AUC relative to the retrained oracle's, in % "
           f"{_MUSE}; 0 = as private as retraining.", better="closer to 0", range=(-100.0, 100.0)),
    Figure("unlearning.<label>.forget_quality", "KS-test p-value between the forget-set truth ratios of this "
           "checkpoint and the oracle's (TOFU); near 1 = indistinguishable from retraining.", better="higher"),
    Figure("unlearning.<label>.verbmem_<set>", "ROUGE-L of the greedy continuation against the {set} text "
           f"{_MUSE}: verbatim memorization.", range=(0.0, 1.0)),
    Figure("unlearning.<label>.knowmem_retain", f"ROUGE-L of answers to retain-set questions {_MUSE}: kept "
           "knowledge.", better="higher"),
    Figure("unlearning.<label>.knowmem_forget", f"ROUGE-L of answers to forget-set questions {_MUSE}."),
    Figure("unlearning.<label>.model_utility", "TOFU's model utility: the harmonic mean of retain-set "
           "figures.", better="higher"),
    Figure("unlearning.<label>.<measure>", "Unlearning measure of one checkpoint (MUSE / TOFU); see the "
           "unlearning section.", range=None),
)  # fmt: skip


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def forget_quality(truth_ratios: list[float], retrain_truth_ratios: list[float]) -> float:
    """TOFU's forget quality (Maini et al. 2024, arXiv:2401.06121): the p-value of the two-sample KS test
    between the model's and the retrain model's forget-set truth ratios (open-unlearning
    ``src/evals/metrics/privacy.py``, ``ks_test``; per-question truth ratios from
    :mod:`auditor.unlearning.tofu`). High (near 1) = indistinguishable from the retrain model."""
    return float(ks_2samp(truth_ratios, retrain_truth_ratios).pvalue)


def unlearning_tree(rows: list[dict]) -> dict:
    """``{label: {measurement: value, <capability family>: accuracy, "privleak", "forget_quality"}}`` at one point.

    Both derived against a ``retrain`` checkpoint measured at the same point: PrivLeak (MUSE,
    :func:`auditor.unlearning.compare.privleak`, in percent) from ``forget_auc``, and forget quality (TOFU).
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
