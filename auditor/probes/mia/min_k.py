"""Min-K% Prob: Shi et al. 2024, "Detecting Pretraining Data from Large Language Models"
(ICLR 2024, arXiv:2310.16789). Score = mean log-prob of the k% least likely tokens of the text."""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs

GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def score(inputs: AttackInputs, k: float) -> np.ndarray:
    return inputs.lowest_k("logprob", lambda: inputs.target.logprob)(k)


ATTACKS.register("min_k")(Attack("min_k", score, param="k", grid=GRID, paper="Shi et al. 2024, arXiv:2310.16789"))
