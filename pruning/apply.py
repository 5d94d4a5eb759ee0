"""Apply masks to a model and restore its weights bit-exactly; measure actual sparsity.

Only the values a mask zeroes are saved (memory proportional to the sparsity, on the weight's own
device) and written back on exit, so restoring is exact whatever the dtype. Zeroing and writing back are
single fused passes (``masked_fill_``, ``masked_scatter_``: no index tensors), and the sparsity count is
``count_nonzero`` (no bool tensor of the weight's size).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def weight_2d(module: nn.Module) -> torch.Tensor:
    """The weight as (out_features, in_features); a view for GPT-2's Conv1D (stored transposed)."""
    w = module.weight
    return w.t() if type(module).__name__ == "Conv1D" else w


@torch.no_grad()
def apply_masks(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Zero the pruned weights in place; return the saved values for :func:`restore`."""
    saved = {}
    for name, mask in masks.items():
        w = weight_2d(modules[name])
        pruned = ~mask.to(w.device)
        saved[name] = w[pruned]  # advanced indexing returns a copy
        w.masked_fill_(pruned, 0)
    return saved


@torch.no_grad()
def restore(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        w = weight_2d(modules[name])
        w.masked_scatter_(~mask.to(w.device), saved[name])


@contextmanager
def masked(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> Iterator[dict]:
    """Within the block the masks are applied; on exit (even on error) the weights are restored."""
    saved = apply_masks(modules, masks)
    try:
        yield sparsity_report(modules)
    finally:
        restore(modules, masks, saved)


@torch.no_grad()
def sparsity_report(modules: dict[str, nn.Module]) -> dict:
    """Actual sparsity (fraction of exact zeros) per layer and overall, as Wanda's check_sparsity does."""
    per_layer, zeros, total = {}, 0, 0
    for name, m in modules.items():
        n = m.weight.numel()
        z = n - int(torch.count_nonzero(m.weight))
        per_layer[name] = z / n
        zeros, total = zeros + z, total + n
    return {"overall": zeros / max(1, total), "per_layer": per_layer, "zeros": zeros, "total": total}
