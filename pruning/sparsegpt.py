"""SparseGPT: Frantar and Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned
in One-Shot" (ICML 2023, arXiv:2301.00774).

For each layer, with H = X X^T / n from calibration inputs (dampened by ``damp`` x mean diag), columns
are processed left to right in blocks. Within a block, the weights to prune are chosen by the OBS
saliency w^2 / [H^-1]_jj^2 (adaptively over the whole block, or per N:M group), each pruned weight's
error is spread over the not-yet-processed columns through the upper Cholesky factor of H^-1, and the
block's accumulated error updates the columns to its right. Unlike magnitude and Wanda, SparseGPT
changes the kept weights, so every sparsity starts again from an in-memory copy of the originals.

* ``sparsegpt`` follows the paper and its reference code: blocks are pruned in order, each block's
  Hessians collected on the outputs of the blocks before it as already pruned and updated (see
  :mod:`auditor.pruning.blockwise`), so only one block's Hessians are held at a time. Defaults as the
  reference: column blocks of 128, dampening 1% of the mean Hessian diagonal.
* ``sparsegpt_dense`` collects every layer's Hessian once from the dense model and reuses it at every
  sparsity (cheaper for sweeps, holds all Hessians at once; not the paper's procedure).
"""

from __future__ import annotations

import torch
from torch import nn

from auditor.errors import InputError
from auditor.pruning.apply import weight_2d
from auditor.pruning.blockwise import Update, prune_sequentially
from auditor.pruning.calibration import collect_inputs
from auditor.pruning.masks import check_sparsity, parse_structure, stable_order
from auditor.pruning.methods import PRUNERS, PruneSpec


@torch.no_grad()
def sparsegpt_layer(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    blocksize: int = 128,
    damp: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pruned-and-updated weight (out, in) and its mask (True = kept), in float32."""
    check_sparsity(sparsity)
    W = weight.detach().float().clone()
    H = hessian.float().clone()
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(cols, device=H.device)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    keep = torch.ones_like(W, dtype=torch.bool)
    for b0 in range(0, cols, blocksize):
        b1 = min(b0 + blocksize, cols)
        Wb = W[:, b0:b1].clone()
        Hb = Hinv[b0:b1, b0:b1]
        Err = torch.zeros_like(Wb)
        diag = torch.diag(Hb)
        if nm is None:
            sal = Wb.square() / diag[None, :].square()
            k = round(sal.numel() * sparsity)
            prune = torch.zeros_like(Wb, dtype=torch.bool)
            if k:
                prune.view(-1)[stable_order(sal.reshape(-1))[:k]] = True
        else:
            prune = torch.zeros_like(Wb, dtype=torch.bool)
        for j in range(b1 - b0):
            w = Wb[:, j]
            d = diag[j]
            if nm is not None and j % nm[1] == 0:
                n, m = nm
                sal = Wb[:, j : j + m].square() / diag[j : j + m][None, :].square()
                idx = stable_order(sal, dim=1)[:, : m - n]
                prune[:, j : j + m].scatter_(1, idx, True)
            q = w.clone()
            q[prune[:, j]] = 0
            err = (w - q) / d
            Wb[:, j:] -= err[:, None] * Hb[j, j:][None, :]
            Wb[:, j] = q
            Err[:, j] = err
        W[:, b0:b1] = Wb
        keep[:, b0:b1] = ~prune
        W[:, b1:] -= Err @ Hinv[b0:b1, b1:]
    W[~keep] = 0
    return W, keep


def _hessians() -> tuple[dict[str, list], Update]:
    """An accumulator of H = X^T X / n_tokens per layer (the reference's 2/n scale changes nothing:
    the dampening is relative to the mean diagonal and the update uses ratios of H^-1 entries)."""
    acc: dict[str, list] = {}

    def update(name: str, x: torch.Tensor) -> None:
        h = acc.setdefault(name, [0, 0])
        h[0] = h[0] + x.t() @ x
        h[1] += x.shape[0]

    return acc, update


def _write(m: nn.Module, w: torch.Tensor) -> None:
    """Copy a (out, in) float32 weight into the module in its own layout and dtype."""
    with torch.no_grad():
        m.weight.copy_((w.t() if type(m).__name__ == "Conv1D" else w).to(m.weight.dtype))


@PRUNERS.register("sparsegpt")
class SparseGPT:
    """SparseGPT (Frantar and Alistarh 2023) as the paper and its reference code run it: block by block,
    each block's Hessians taken on the pruned outputs of the blocks before it; column blocks of 128,
    dampening 1% of the mean Hessian diagonal."""

    name = "sparsegpt"
    default_granularity = "layer"
    needs_calibration = True
    updates_weights = True
    blocksize = 128
    damp = 0.01

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        if not calibration:
            raise InputError(f"{self.name} needs calibration texts (--calibration)")
        self._model, self._calibration = model, calibration
        return {}

    def _prune(self, sub: dict[str, nn.Module], hessians: dict[str, torch.Tensor], spec: PruneSpec) -> None:
        nm = parse_structure(spec.structure)
        for name, m in sub.items():
            w, _ = sparsegpt_layer(weight_2d(m), hessians[name], spec.sparsity, nm, self.blocksize, self.damp)
            _write(m, w)

    def apply(self, modules: dict[str, nn.Module], scores: dict, spec: PruneSpec) -> None:
        """Prune ``modules`` at ``spec`` in place, starting from their current weights."""

        def prune(sub: dict[str, nn.Module], acc: object) -> None:
            self._prune(sub, {n: h / c for n, (h, c) in acc.items()}, spec)  # type: ignore[attr-defined]

        prune_sequentially(self._model, modules, self._calibration, _hessians, prune)


@PRUNERS.register("sparsegpt_dense")
class SparseGPTDense(SparseGPT):
    """SparseGPT (Frantar and Alistarh 2023) with every Hessian taken once from the dense model and reused
    at every sparsity; not the paper's block-by-block procedure."""

    name = "sparsegpt_dense"

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        if not calibration:
            raise InputError(f"{self.name} needs calibration texts (--calibration)")
        acc, update = _hessians()
        collect_inputs(model, modules, calibration, update)
        return {name: acc[name][0] / acc[name][1] for name in modules}

    def apply(self, modules: dict[str, nn.Module], scores: dict, spec: PruneSpec) -> None:
        self._prune(modules, scores, spec)
