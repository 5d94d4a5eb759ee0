"""Min-K%++: Zhang et al. 2024, "Min-K%++: Improved Baseline for Detecting Pre-Training Data from
Large Language Models" (arXiv:2404.02936).

Per token, (log p(x_t) - mu_t) / sigma_t, where mu_t and sigma_t^2 are the mean and variance of
log p(z) for z drawn from the model's own next-token distribution; score = mean of the lowest k%.
"""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs
from auditor.probes.mia.min_k import GRID

EPS = 1e-12


def token_scores(logprob: np.ndarray, mu: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    return (logprob - mu) / np.sqrt(np.maximum(sigma2, EPS))


def score(inputs: AttackInputs, k: float) -> np.ndarray:
    t = inputs.target
    per_text = lambda: [token_scores(a, m, s) for a, m, s in zip(t.logprob, t.mu, t.sigma2, strict=True)]  # noqa: E731
    return inputs.lowest_k("min_k_pp", per_text)(k)


ATTACKS.register("min_k_pp")(
    Attack("min_k_pp", score, param="k", grid=GRID, paper="Zhang et al. 2024, arXiv:2404.02936")
)
