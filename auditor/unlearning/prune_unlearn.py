"""Pruning as unlearning: zero the weights that matter to the forget set much more than to the retain set.

Score of weight W_ij of a targeted linear layer (output i, input j):

    S_ij = |W_ij| * rms_forget(X_j) / (rms_retain(X_j) + eps),

where rms_set(X_j) is the root-mean-square of input feature j over every token of that set's texts.
In each layer (or each output row, ``prune_granularity="row"``) the ``prune_fraction`` of weights with the
HIGHEST score are set to zero, once, with no training.

Why this score. Wanda (Sun et al. 2024, "A Simple and Effective Pruning Approach for Large Language
Models", arXiv:2306.11695) shows that |W_ij| * ||X_j||_2 estimates how much weight W_ij contributes to
a layer's output on the data X: it is the magnitude of the term W_ij * x_j summed in quadrature over
tokens. Selective pruning (Pochinkov and Schoots 2024, "Dissecting Language Models: Machine Unlearning
via Selective Pruning", arXiv:2403.01267) removes the units whose importance on the forget data is
largest *relative* to their importance on the retain data. Taking Wanda's importance on the forget set
divided by the input scale on the retain set gives a per-weight version of that ratio: |W| is shared,
so the ratio ranks weights by forget importance among weights of similar magnitude, and favours input
features that are active on the forget texts but quiet on the retain texts. Both norms are taken as
RMS (per token), so the ratio does not depend on how many tokens each set holds. It reuses the
pruning package: layers are found by name pattern (``auditor.pruning.targets.find_targets``), inputs are
collected by hooks (``auditor.pruning.calibration.collect_inputs``), masks come from the stable-sort kernels
(``auditor.pruning.masks.make_masks``) and are applied by ``auditor.pruning.apply.apply_masks``.

Limits: one shot and data-dependent; a weight important to both sets is pruned only if the forget
set needs it much more. On models where the forget texts share most features with the retain texts
(as in the lab, where every member is a biography from the same templates), the ratio separates
weights less well than on a distinct forget domain, so it reduces the forget likelihood less than the
gradient methods at the same utility cost.
"""

from __future__ import annotations

import random
import time

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError
from auditor.inputs.data import TextSet
from auditor.pruning.apply import apply_masks, weight_2d
from auditor.pruning.calibration import collect_inputs
from auditor.pruning.masks import make_masks
from auditor.pruning.targets import find_targets
from auditor.unlearning.base import UNLEARNERS, UnlearnConfig
from auditor.unlearning.trainer import encode


def activation_rms(
    model: nn.Module, modules: dict[str, nn.Module], seqs: list[list[int]]
) -> tuple[dict[str, torch.Tensor], int]:
    """Per target layer, the RMS of each input feature over all tokens of ``seqs``; and the token count.

    Each text is run as its own row (no padding to mask out)."""
    sq: dict[str, torch.Tensor] = {}
    count: dict[str, int] = {}

    def update(name: str, x: torch.Tensor) -> None:
        s = x.square().sum(0)
        sq[name] = s if name not in sq else sq[name] + s
        count[name] = count.get(name, 0) + x.shape[0]

    collect_inputs(model, modules, seqs, update, batch_size=1)
    return {n: (sq[n] / count[n]).sqrt() for n in modules}, sum(len(s) for s in seqs)


def prune_scores(weight: torch.Tensor, rms_forget: torch.Tensor, rms_retain: torch.Tensor, eps: float) -> torch.Tensor:
    """|W| * rms_forget / (rms_retain + eps), broadcast over output rows; weight is (out, in); float32."""
    ratio = rms_forget.float() / (rms_retain.float() + eps)
    return weight.detach().abs().float() * ratio.to(weight.device)[None, :]


def _sample(seqs: list[list[int]], limit: int, seed: int) -> list[list[int]]:
    if len(seqs) <= limit:
        return seqs
    return random.Random(f"prune-unlearn-{seed}").sample(seqs, limit)


@UNLEARNERS.register("prune_unlearn")
class PruneUnlearn:
    """Zero the top ``prune_fraction`` of each targeted layer's weights by forget/retain importance ratio."""

    name = "prune_unlearn"
    needs_retain = True
    iterative = False  # one shot: no steps to observe

    @torch.no_grad()
    def run(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        forget: TextSet,
        retain: TextSet | None,
        config: UnlearnConfig,
    ) -> dict:
        if retain is None:
            raise ConfigError("prune_unlearn needs a retain set")
        t0 = time.time()
        modules = find_targets(model, config.targets, config.ignore)
        if not modules:
            raise ConfigError(
                f"prune_unlearn: no Linear layer matches targets {list(config.targets)} outside ignore "
                f"{list(config.ignore)}; check the patterns against the model's module names"
            )
        f_seqs = _sample(encode(tokenizer, forget, config.max_len), config.prune_max_texts, config.seed)
        r_seqs = _sample(encode(tokenizer, retain, config.max_len), config.prune_max_texts, config.seed)
        was_training = model.training
        model.eval()
        rms_f, f_tokens = activation_rms(model, modules, f_seqs)
        rms_r, r_tokens = activation_rms(model, modules, r_seqs)
        scores = {
            n: -prune_scores(weight_2d(m), rms_f[n], rms_r[n], config.prune_eps) for n, m in modules.items()
        }  # negated: the mask kernels prune the LOWEST scores
        masks = make_masks(scores, config.prune_fraction, "unstructured", config.prune_granularity)
        apply_masks(modules, masks)
        model.train(was_training)
        pruned = {n: int((~mask).sum()) for n, mask in masks.items()}
        return {
            "seconds": round(time.time() - t0, 2),
            "layers": len(modules),
            "prune_fraction": config.prune_fraction,
            "pruned_weights": sum(pruned.values()),
            "pruned_per_layer": pruned,
            "forget_texts": len(f_seqs),
            "retain_texts": len(r_seqs),
            "forget_tokens": f_tokens,
            "retain_tokens": r_tokens,
        }
