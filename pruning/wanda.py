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
