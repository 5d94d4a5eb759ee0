"""Wanda: Sun et al. 2024, "A Simple and Effective Pruning Approach for Large Language Models"
(ICLR 2024, arXiv:2306.11695).

Score of weight W_ij = |W_ij| * ||X_j||_2, where ||X_j||_2 is the L2 norm of input feature j over
all calibration tokens; weights are compared within each output row. Input norms are collected from
the dense model in one calibration pass, so one ranking serves every sparsity (masks are nested).
"""

from __future__ import annotations

import torch
from torch import nn

from auditor.errors import InputError
from pruning.apply import weight_2d
from pruning.calibration import collect_inputs
from pruning.masks import make_masks
from pruning.methods import PRUNERS, PruneSpec, ranked_masks


def wanda_scores(weight: torch.Tensor, sq_norm: torch.Tensor) -> torch.Tensor:
    """|W| * sqrt(sum_t x_tj^2), broadcast over output rows; weight is (out, in)."""
    return weight.abs().float() * sq_norm.sqrt().to(weight.device)[None, :]


@PRUNERS.register("wanda")
class Wanda:
    name = "wanda"
    default_granularity = "row"
    needs_calibration = True

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        if not calibration:
            raise InputError("wanda needs calibration texts (--calibration)")
        sq: dict[str, torch.Tensor] = {}

        def update(name: str, x: torch.Tensor) -> None:
            s = x.square().sum(0)
            sq[name] = s if name not in sq else sq[name] + s

        collect_inputs(model, modules, calibration, update)
        return {name: wanda_scores(weight_2d(m).detach(), sq[name]) for name, m in modules.items()}

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
        return ranked_masks(self, scores, spec)


def block_of(name: str) -> str:
    """The repeated block a layer belongs to: its name up to the first numeric part
    (``model.layers.3.mlp.up_proj`` -> ``model.layers.3``); layers outside numbered blocks form their own."""
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + 1])
    return name


@PRUNERS.register("wanda_sequential")
class WandaSequential(Wanda):
    """Wanda as the reference scripts run it: blocks are pruned in order, and each block's input norms
    are collected with every earlier block already pruned at the same sparsity. Masks therefore
    depend on the sparsity (they are not sliced from one ranking) and cost one calibration pass per
    block at every sparsity. Blocks are found by name (the first numeric part), not by architecture."""

    name = "wanda_sequential"
    sequential = True

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        if not calibration:
            raise InputError("wanda_sequential needs calibration texts (--calibration)")
        self._model, self._modules, self._calibration = model, modules, calibration
        return {}

    def sequential_masks(self, spec: PruneSpec) -> dict[str, torch.Tensor]:
        from pruning.apply import apply_masks, restore

        blocks: dict[str, list[str]] = {}
        for n in self._modules:
            blocks.setdefault(block_of(n), []).append(n)
        out: dict[str, torch.Tensor] = {}
        applied = []
        try:
            for names in blocks.values():
                sub = {n: self._modules[n] for n in names}
                sq: dict[str, torch.Tensor] = {}

                def update(name: str, x: torch.Tensor, sq=sq) -> None:
                    s = x.square().sum(0)
                    sq[name] = s if name not in sq else sq[name] + s

                collect_inputs(self._model, sub, self._calibration, update)
                scores = {n: wanda_scores(weight_2d(m).detach(), sq[n]) for n, m in sub.items()}
                masks = make_masks(scores, spec.sparsity, spec.structure, spec.granularity or self.default_granularity)
                applied.append((sub, masks, apply_masks(sub, masks)))
                out.update(masks)
        finally:
            for sub, masks, saved in reversed(applied):
                restore(sub, masks, saved)
        return out

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
        return self.sequential_masks(spec)
