"""Wanda: Sun et al. 2024, "A Simple and Effective Pruning Approach for Large Language Models"
(ICLR 2024, arXiv:2306.11695).

Score of weight W_ij = |W_ij| * ||X_j||_2, where ||X_j||_2 is the L2 norm of input feature j over all
calibration tokens; weights are compared within each output row.

* ``wanda`` follows the paper and its reference code (``prune_wanda``): blocks are pruned in order,
  each block's input norms collected with every earlier block already pruned at the same sparsity
  (see :mod:`auditor.pruning.blockwise`). Masks depend on the sparsity, so each sparsity calibrates again.
* ``wanda_nested`` collects every layer's input norms from the dense model in one pass, so one ranking
  serves every sparsity and masks are nested across sparsities (cheaper for sweeps; not the paper's).
"""

from __future__ import annotations

import torch
from torch import nn

from auditor.errors import InputError
from auditor.pruning.apply import apply_masks, restore, weight_2d
from auditor.pruning.blockwise import Update, prune_sequentially
from auditor.pruning.calibration import collect_inputs
from auditor.pruning.masks import make_masks
from auditor.pruning.methods import PRUNERS, PruneSpec, WeightScores, ranked_masks


def wanda_scores(weight: torch.Tensor, sq_norm: torch.Tensor) -> torch.Tensor:
    """|W| * sqrt(sum_t x_tj^2), broadcast over output rows; weight is (out, in)."""
    return weight.abs().float() * sq_norm.sqrt().to(weight.device)[None, :]


def _sq_norms() -> tuple[dict[str, torch.Tensor], Update]:
    """An accumulator of per-feature sums of squares of each layer's inputs."""
    sq: dict[str, torch.Tensor] = {}

    def update(name: str, x: torch.Tensor) -> None:
        s = x.square().sum(0)
        sq[name] = s if name not in sq else sq[name] + s

    return sq, update


@PRUNERS.register("wanda_nested")
class WandaNested:
    """Wanda scores (Sun et al. 2024) from the dense model's inputs in one pass, one ranking for every
    sparsity (nested masks); not the paper's block-by-block procedure."""

    name = "wanda_nested"
    default_granularity = "row"
    needs_calibration = True
    ranked = True  # one stable ranking of the scores serves every sparsity (nested masks)

    def prepare(
        self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None
    ) -> WeightScores:
        if not calibration:
            raise InputError(f"{self.name} needs calibration texts (--calibration)")
        sq, update = _sq_norms()
        collect_inputs(model, modules, calibration, update)
        return WeightScores(modules, lambda name, w: wanda_scores(w, sq[name]))

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
        return ranked_masks(self, scores, spec)


@PRUNERS.register("wanda")
class Wanda:
    """Wanda (Sun et al. 2024) as the paper and its reference code run it: block by block, each block
    calibrated on the pruned outputs of the blocks before it, at the sparsity being applied."""

    name = "wanda"
    default_granularity = "row"
    needs_calibration = True

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        if not calibration:
            raise InputError(f"{self.name} needs calibration texts (--calibration)")
        self._model, self._modules, self._calibration = model, modules, calibration
        return {}

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
        """Masks at ``spec``; the model's weights are unchanged on return."""
        out: dict[str, torch.Tensor] = {}
        applied: list[tuple[dict, dict, dict]] = []
        granularity = spec.granularity or self.default_granularity

        def prune(sub: dict[str, nn.Module], sq: object) -> None:
            scores = {n: wanda_scores(weight_2d(m).detach(), sq[n]) for n, m in sub.items()}  # type: ignore[index]
            masks = make_masks(scores, spec.sparsity, spec.structure, granularity)
            applied.append((sub, masks, apply_masks(sub, masks)))
            out.update(masks)

        try:
            prune_sequentially(self._model, self._modules, self._calibration, _sq_norms, prune)
        finally:
            for sub, masks, saved in reversed(applied):
                restore(sub, masks, saved)
        return out
