"""The early model's continuous predictors of "the final model memorizes this example", as data.

Each predictor reads one field of an example's row in ``examples.jsonl`` and is ORIENTED so that a higher
value predicts "memorized" (``sign`` -1 negates a field where lower means more memorized):

* ``memorization_score``: the early model's memorization score, the fraction of the suffix tokens greedy
  decoding reproduces (Biderman et al. 2023, arXiv:2304.11158); as is;
* ``neg_nll``: minus the mean per-token negative log-likelihood of the whole sequence (a low loss marks a
  learned, so likely memorized, sequence);
* ``neg_el2n``: minus the LM-EL2N score, the mean over tokens of ||p(.|x_<t) - onehot(x_t)||_2 (Paul et al.
  2021, "Deep Learning on a Data Diet", NeurIPS: early in training a low EL2N marks an easy example);
* ``exposure``: canary rows only, the secret's exposure log2|R| - log2 rank (Carlini et al. 2019); as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.registry import Registry


@dataclass(frozen=True)
class Predictor:
    """A continuous early statistic: ``sign * row[field]`` (higher = predicts memorized)."""

    name: str
    field: str  # the key of the example's row in examples.jsonl
    sign: float  # +1: the field as is; -1: negated (lower field value = predicts memorized)
    title: str  # the column title in tables
    description: str

    def values(self, rows: Sequence[dict]) -> np.ndarray:
        """The oriented values of ``rows``; NaN where a row lacks the field (e.g. exposure of a plain text)."""
        raw = [r.get(self.field) for r in rows]
        return np.array([np.nan if v is None else self.sign * float(v) for v in raw], dtype=np.float64)

    @property
    def orientation(self) -> str:
        return f"{'+' if self.sign > 0 else '-'}{self.field} (higher = predicts memorized)"


PREDICTORS: Registry[Predictor] = Registry("forecast predictor")
ORDER = ("memorization_score", "neg_nll", "neg_el2n", "exposure")  # column order of the tables

for _p in (
    Predictor(
        "memorization_score",
        "score",
        1.0,
        "score",
        "fraction of the suffix tokens greedy decoding reproduces (Biderman et al. 2023)",
    ),
    Predictor("neg_nll", "nll", -1.0, "-NLL", "minus the mean per-token negative log-likelihood of the sequence"),
    Predictor("neg_el2n", "el2n", -1.0, "-EL2N", "minus the mean per-token EL2N ||p - onehot||_2 (Paul et al. 2021)"),
    Predictor(
        "exposure",
        "exposure",
        1.0,
        "exposure",
        "canaries only: log2 |candidate space| - log2 rank of the secret (Carlini et al. 2019)",
    ),
):
    PREDICTORS.register(_p.name)(_p)


def ordered() -> list[Predictor]:
    """Every registered predictor, the table's order first, then any others by name."""
    names = [n for n in ORDER if n in PREDICTORS] + [n for n in PREDICTORS if n not in ORDER]
    return [PREDICTORS.get(n) for n in names]
