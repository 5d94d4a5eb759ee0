"""LOSS attack: Yeom et al. 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (CSF 2018, arXiv:1709.01604). Score = mean token log-likelihood = -loss."""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs, mean_logprob


def score(inputs: AttackInputs) -> np.ndarray:
    return mean_logprob(inputs.target)


ATTACKS.register("loss")(Attack("loss", score, paper="Yeom et al. 2018, arXiv:1709.01604"))
