"""Ground-truth checks of a lab with known members and canaries, from the project's own probe functions.

* LOSS attack AUC, members vs non-members (Yeom et al. 2018): must be clearly above 0.5;
* the blind baseline's AUC (Das et al. 2024; :func:`auditor.probes.mia.blind.blind_scores`): must be near
  0.5, i.e. the random split itself does not separate the two sets. "Near" is a permutation test: the
  same classifier is refit with the member/non-member labels shuffled ``n_permutations`` times, and the
  observed |AUC - 0.5| must not be in the top 5% of that null (p >= 0.05). A fixed band is wrong for real
  pools: texts cluster (docstrings of one module), which widens the null well beyond the analytic
  sqrt((n1+n2+1)/(12 n1 n2)) of independent texts (on the stdlib pool, 120 vs 120, the blind AUC over
  split seeds 0-7 ranged 0.39-0.61, SD 0.07, against 0.037 analytic);
* canary exact extraction (greedy decoding from the prefix reproduces the secret) and exposure
  (Carlini et al. 2019; :func:`auditor.probes.extraction.exposure.canary_exposure`) per repeat level:
  must rise with the number of insertions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.lm.scoring import greedy_answer_match, mean_nll
from auditor.probes.extraction.config import ExposureConfig
from auditor.probes.extraction.exposure import canary_exposure
from auditor.probes.mia.blind import blind_scores
from auditor.stats.metrics import auc


@dataclass(frozen=True)
class TruthSpec:
    """How the checks are measured, and the bars they are held to."""

    exposure_method: str = "estimate"  # the skew-normal extrapolation: exact ranks 10^4 candidates per canary
    n_estimate: int = 100
    min_loss_auc: float = 0.6
    n_permutations: int = 39  # label shuffles for the blind baseline's null (p resolution 1/40)
    min_blind_p: float = 0.05
    batch_size: int = 16


def _by_level(canaries: list[dict], values: list[float]) -> dict[str, float]:
    by: dict[int, list[float]] = defaultdict(list)
    for c, v in zip(canaries, values, strict=True):
        by[int(c["repeats"])].append(float(v))
    return {str(k): round(sum(v) / len(v), 4) for k, v in sorted(by.items())}


def blind_null(members: list[str], nonmembers: list[str], n: int, seed: int) -> list[float]:
    """Blind-baseline AUCs with the labels shuffled: the null distribution of an IID split of these texts."""
    texts = list(members) + list(nonmembers)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        perm = [texts[i] for i in rng.permutation(len(texts))]
        s = blind_scores(perm[: len(members)], perm[len(members) :], seed=seed)
        out.append(auc(s[: len(members)], s[len(members) :]))
    return out


def permutation_p(observed: float, null: list[float]) -> float:
    """Two-sided permutation p-value of ``observed`` (distance from 0.5) against ``null``, with the +1
    correction (Phipson and Smyth 2010) so that it is never 0."""
    hits = sum(abs(v - 0.5) >= abs(observed - 0.5) - 1e-12 for v in null)
    return (1 + hits) / (1 + len(null))


def rises(levels: dict[str, float]) -> bool:
    """The highest repeat level scores above the lowest one (the trend, not strict monotonicity)."""
    vals = list(levels.values())
    return len(vals) >= 2 and vals[-1] > vals[0]


def ground_truth(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    files: dict[str, list[dict]],
    spec: TruthSpec,
    seed: int = 0,
) -> dict:
    """The figures and whether each check passes (``checks``)."""
    members = [r["text"] for r in files["members"]]
    nonmembers = [r["text"] for r in files["nonmembers"]]
    nll_m = mean_nll(model, tokenizer, members, spec.batch_size)
    nll_n = mean_nll(model, tokenizer, nonmembers, spec.batch_size)
    blind = blind_scores(members, nonmembers, seed=seed)
    b_auc = auc(blind[: len(members)], blind[len(members) :])
    null = blind_null(members, nonmembers, spec.n_permutations, seed)
    can = files["canaries"]
    hits = greedy_answer_match(model, tokenizer, [c["prefix"] for c in can], [c["secret"] for c in can])
    cfg = ExposureConfig(
        method=spec.exposure_method, n_estimate=spec.n_estimate, seed=seed, batch_size=spec.batch_size * 16
    )
    exp = [canary_exposure(model, tokenizer, c["prefix"], c["secret"], cfg, c["id"])["exposure"] for c in can]
    figs: dict = {
        "loss_auc": round(auc([-v for v in nll_m], [-v for v in nll_n]), 4),
        "member_mean_nll": round(sum(nll_m) / len(nll_m), 4),
        "nonmember_mean_nll": round(sum(nll_n) / len(nll_n), 4),
        "blind_auc": round(b_auc, 4),
        "blind_null_mean": round(float(np.mean(null)), 4),
        "blind_null_95": [round(float(v), 4) for v in np.quantile(null, [0.025, 0.975])],
        "blind_p": round(permutation_p(b_auc, null), 4),
        "canary_exact_by_repeats": _by_level(can, [float(h) for h in hits]),
        "exposure_by_repeats": _by_level(can, exp),
        "exposure_method": spec.exposure_method,
        "exposure_max_bits": round(math.log2(10 ** sum(ch.isdigit() for ch in can[0]["secret"])), 2),
    }
    figs["checks"] = {
        f"loss_auc>={spec.min_loss_auc}": figs["loss_auc"] >= spec.min_loss_auc,
        f"blind_permutation_p>={spec.min_blind_p}": figs["blind_p"] >= spec.min_blind_p,
        "canary_exact_rises_with_repeats": rises(figs["canary_exact_by_repeats"]),
        "exposure_rises_with_repeats": rises(figs["exposure_by_repeats"]),
    }
    return figs
