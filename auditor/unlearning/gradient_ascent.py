"""Gradient ascent: maximize the language-modelling loss on the forget set.

Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models" (ACL 2023,
arXiv:2210.01504): negate the next-token loss of the sequences to forget and take gradient steps. It is
also the first baseline of TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs",
arXiv:2401.06121). The loss is unbounded below, so it drives the forget likelihood down quickly and,
with nothing anchoring the rest of the model, tends to collapse utility too (the "catastrophic collapse"
that NPO was designed to slow down).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from auditor.lm.training import Batch
from auditor.unlearning.base import UNLEARNERS, UnlearnConfig
from auditor.unlearning.trainer import GradientUnlearner, mean_token_nll, token_logprobs


@UNLEARNERS.register("gradient_ascent")
class GradientAscent(GradientUnlearner):
    """loss = -NLL(forget); a retain set, if given, is not used."""

    name = "gradient_ascent"
    needs_retain = False

    def uses_retain(self, retain: object, config: UnlearnConfig) -> bool:
        return False

    def loss(
        self, model: PreTrainedModel, forget: Batch, retain: Batch | None, config: UnlearnConfig
    ) -> tuple[torch.Tensor, dict[str, float]]:
        nll = mean_token_nll(*token_logprobs(model, forget))
        return -nll, {"forget_nll": float(nll.detach())}
