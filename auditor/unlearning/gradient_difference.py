"""Gradient difference: ascend on the forget set while descending on the retain set.

Liu et al. 2022, "Continual Learning and Private Unlearning" (CoLLAs 2022, arXiv:2203.12817), and the
"grad diff" baseline of TOFU (Maini et al. 2024, arXiv:2401.06121):
loss = -NLL(forget batch) + retain_weight * NLL(retain batch). The retain term anchors the model's
behaviour on the data it must keep, which slows the utility collapse of plain gradient ascent.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from auditor.lm.training import Batch
from auditor.unlearning.base import UNLEARNERS, UnlearnConfig
from auditor.unlearning.trainer import GradientUnlearner, mean_token_nll, token_logprobs


@UNLEARNERS.register("gradient_difference")
class GradientDifference(GradientUnlearner):
    """loss = -NLL(forget) + retain_weight * NLL(retain); needs a retain set."""

    name = "gradient_difference"
    needs_retain = True

    def loss(
        self, model: PreTrainedModel, forget: Batch, retain: Batch | None, config: UnlearnConfig
    ) -> tuple[torch.Tensor, dict[str, float]]:
        f_nll = mean_token_nll(*token_logprobs(model, forget))
        parts = {"forget_nll": float(f_nll.detach())}
        loss = -f_nll
        if retain is not None:
            r_nll = mean_token_nll(*token_logprobs(model, retain))
            loss = loss + config.retain_weight * r_nll
            parts["retain_nll"] = float(r_nll.detach())
        return loss, parts
