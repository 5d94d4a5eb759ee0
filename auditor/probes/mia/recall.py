"""ReCaLL: Xie et al. 2024, "ReCaLL: Membership Inference via Relative Conditional Log-Likelihoods"
(EMNLP 2024, arXiv:2406.15968).

Score = LL(x | P) / LL(x): the average log-likelihood of the text conditioned on a non-member prefix
P, relative to its unconditional average log-likelihood (both negative). A non-member prefix lowers
the likelihood of member text more, so the ratio is larger for members. The prefix is built from
non-member texts the user supplies (by default, the first non-members, which are then excluded from
the evaluation so that no text is scored after itself).
"""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs, mean_logprob


def score(inputs: AttackInputs) -> np.ndarray:
    assert inputs.recall is not None
    return mean_logprob(inputs.recall) / mean_logprob(inputs.target)


ATTACKS.register("recall")(Attack("recall", score, needs=("recall",), paper="Xie et al. 2024, arXiv:2406.15968"))
