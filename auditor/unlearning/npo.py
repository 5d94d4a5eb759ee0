"""Negative Preference Optimization (NPO), optionally with a retain term (NPO+RT).

Zhang et al. 2024, "Negative Preference Optimization: From Catastrophic Collapse to Effective
Unlearning" (COLM 2024, arXiv:2404.05868). DPO with only a dispreferred answer: for each forget text y,

    L_NPO = (2 / beta) * E[ log(1 + (pi_theta(y) / pi_ref(y)) ** beta) ]
          = (2 / beta) * E[ softplus(beta * (log pi_theta(y) - log pi_ref(y))) ],

where log pi(y) is the *sequence* log-likelihood (the sum of its token log-probs) and pi_ref is the
model before unlearning, frozen. Its gradient is gradient ascent's, weighted by
2 * sigmoid(beta * log-ratio) -> 0 as the forget likelihood falls below the reference, so the ascent
slows down by itself instead of diverging; as beta -> 0 it recovers gradient ascent. With a retain
set and ``retain_weight > 0`` the retain NLL is added (NPO+RT in the paper).

The frozen reference enters the loss only through log pi_ref(y) of the forget texts, a constant: it is
computed once, before the first step, with the unmodified model (exactly what a frozen copy would
return, without holding a second model in memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from auditor.lm.batching import input_device
from auditor.lm.training import Batch, collate
from auditor.unlearning.base import UNLEARNERS, UnlearnConfig
from auditor.unlearning.trainer import GradientUnlearner, mean_token_nll, token_logprobs


def npo_loss(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """(2 / beta) * mean(log(1 + exp(beta * (logp - logp_ref)))) over sequences; softplus keeps it stable."""
    return (2.0 / beta) * F.softplus(beta * (logp - logp_ref)).mean()


@UNLEARNERS.register("npo")
class NPO(GradientUnlearner):
    """NPO on the forget set, plus ``retain_weight`` * NLL(retain) when a retain set is given (NPO+RT)."""

    name = "npo"
    needs_retain = False

    def __init__(self) -> None:
        self.ref: torch.Tensor | None = None  # log pi_ref(y) per forget text

    def prepare(self, model: PreTrainedModel, forget: list[list[int]], pad_id: int, config: UnlearnConfig) -> None:
        device = input_device(model)
        ref = torch.empty(len(forget), dtype=torch.float32)
        for start in range(0, len(forget), config.batch_size):
            index = list(range(start, min(start + config.batch_size, len(forget))))
            lp, _ = token_logprobs(model, collate(forget, index, pad_id, device))
            ref[index] = lp.sum(-1).float().cpu()
        self.ref = ref

    def loss(
        self, model: PreTrainedModel, forget: Batch, retain: Batch | None, config: UnlearnConfig
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if self.ref is None:
            raise RuntimeError("NPO.prepare() must compute the reference log-likelihoods before the first step")
        lp, valid = token_logprobs(model, forget)
        logp = lp.sum(-1)
        ref = self.ref[forget.index].to(logp.device)
        loss = npo_loss(logp, ref, config.beta)
        parts = {"npo": float(loss.detach()), "forget_nll": float(mean_token_nll(lp, valid).detach())}
        if retain is not None:
            r_nll = mean_token_nll(*token_logprobs(model, retain))
            loss = loss + config.retain_weight * r_nll
            parts["retain_nll"] = float(r_nll.detach())
        return loss, parts
