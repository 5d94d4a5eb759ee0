"""SparseGPT: Frantar and Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned
in One-Shot" (ICML 2023, arXiv:2301.00774).

For each layer, with H = X X^T / n from calibration inputs (dampened by ``damp`` x mean diag), columns
are processed left to right in blocks. Within a block, the weights to prune are chosen by the OBS
saliency w^2 / [H^-1]_jj^2 (adaptively over the whole block, or per N:M group), each pruned weight's
error is spread over the not-yet-processed columns through the upper Cholesky factor of H^-1, and the
block's accumulated error updates the columns to its right. Unlike magnitude and Wanda, SparseGPT
changes the kept weights, so every sparsity starts again from an in-memory copy of the originals.
"""

from __future__ import annotations

import torch
from torch import nn

from auditor.errors import InputError
from pruning.apply import weight_2d
from pruning.calibration import collect_inputs
from pruning.masks import check_sparsity, parse_structure
from pruning.methods import PRUNERS, PruneSpec


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
                prune.view(-1)[torch.sort(sal.reshape(-1), stable=True).indices[:k]] = True
        else:
            prune = torch.zeros_like(Wb, dtype=torch.bool)
        for j in range(b1 - b0):
            w = Wb[:, j]
            d = diag[j]
            if nm is not None and j % nm[1] == 0:
                n, m = nm
                sal = Wb[:, j : j + m].square() / diag[j : j + m][None, :].square()
                idx = torch.sort(sal, dim=1, stable=True).indices[:, : m - n]
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


@PRUNERS.register("sparsegpt")
class SparseGPT:
    name = "sparsegpt"
    default_granularity = "layer"
    needs_calibration = True
    blocksize = 128
    damp = 0.01

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None) -> dict:
        """Per-layer H = X^T X / n_tokens from the dense model's calibration inputs."""
        if not calibration:
            raise InputError("sparsegpt needs calibration texts (--calibration)")
        hs: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}

        def update(name: str, x: torch.Tensor) -> None:
            hs[name] = hs.get(name, 0) + x.t() @ x
            counts[name] = counts.get(name, 0) + x.shape[0]

        collect_inputs(model, modules, calibration, update)
        return {name: hs[name] / counts[name] for name in modules}

    def weights(
        self, modules: dict[str, nn.Module], hessians: dict[str, torch.Tensor], spec: PruneSpec
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """New weights (in each module's own layout and dtype) and masks, from the current weights."""
        nm = parse_structure(spec.structure)
        new, masks = {}, {}
        for name, m in modules.items():
            w, keep = sparsegpt_layer(weight_2d(m), hessians[name], spec.sparsity, nm, self.blocksize, self.damp)
            w = w.t() if type(m).__name__ == "Conv1D" else w
            new[name] = w.to(m.weight.dtype)
            masks[name] = keep
        return new, masks
