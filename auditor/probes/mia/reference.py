"""Reference-model calibration: Carlini et al. 2021 (arXiv:2012.07805) and Mireshghallah et al. 2022
("Quantifying Privacy Risks of Masked Language Models Using Membership Inference Attacks").

Score = mean log-likelihood under the target minus under a reference model trained on similar data
(a difference of log-likelihoods): text the target finds much likelier than the reference does is
likely a member. Both models must share a tokenizer (checked before scoring).
"""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs, mean_logprob


def score(inputs: AttackInputs) -> np.ndarray:
    assert inputs.reference is not None
    return mean_logprob(inputs.target) - mean_logprob(inputs.reference)


ATTACKS.register("reference")(
    Attack("reference", score, needs=("reference",), paper="Carlini et al. 2021, arXiv:2012.07805")
)
