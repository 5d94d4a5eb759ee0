"""Nested masks applied incrementally: a sweep over rising sparsities zeroes only what the next point adds.

With one ranking for every sparsity (magnitude, ``wanda_nested``), the weights pruned at sparsity s are the
first k(s) of each group's stable order, so going from s to s' > s zeroes the weights ranked k(s) .. k(s')-1
and nothing else. :class:`HeldPruning` keeps the model pruned between the points of a sweep, saving the values
it zeroes (memory proportional to the sparsity reached; their positions are read from the ranking again when
needed), and writes them all back once, bit-exactly, when released. Per point it touches only the weights
it adds, instead of building, applying and undoing a full mask over every weight.

The sparsity report is kept exact without a pass over the weights: a layer's zeros are the zeros it had
before (counted once) plus the zeroed values that were not already zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from auditor.pruning.apply import weight_2d
from auditor.pruning.masks import RankedScores


def _take_and_zero(w: torch.Tensor, idx: torch.Tensor, granularity: str) -> torch.Tensor:
    """The values of ``w`` (out, in) at ``idx`` (flat positions, or per-row columns), which are then set to 0."""
    if granularity == "row":
        vals = w.gather(1, idx)
        w.scatter_(1, idx, 0.0)
        return vals
    if w.is_contiguous():
        flat = w.view(-1)
        vals = flat[idx]
        flat[idx] = 0
        return vals
    rows, cols = idx // w.shape[1], idx % w.shape[1]  # a transposed view (GPT-2's Conv1D)
    vals = w[rows, cols]
    w[rows, cols] = 0
    return vals


def _put(w: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor, granularity: str) -> None:
    """Write ``vals`` back at ``idx`` (the inverse of :func:`_take_and_zero`)."""
    if granularity == "row":
        w.scatter_(1, idx, vals)
    elif w.is_contiguous():
        w.view(-1)[idx] = vals
    else:
        w[idx // w.shape[1], idx % w.shape[1]] = vals


class HeldPruning:
    """The model pruned at the highest sparsity reached so far along one ranking, until :meth:`release`.

    ``share``: called with each step's index tensors before they are used, when zeroing and when writing back
    (data parallel: the main process's positions everywhere)."""

    def __init__(
        self, modules: dict[str, nn.Module], ranked: RankedScores, share: Callable[[list[torch.Tensor]], None]
    ) -> None:
        self.modules, self.ranked, self.share = modules, ranked, share
        self.k = dict.fromkeys(modules, 0)
        self.saved: dict[str, list[tuple[int, int, torch.Tensor]]] = {n: [] for n in modules}  # (k0, k1, values)
        with torch.no_grad():
            self.zeros = {n: m.weight.numel() - int(torch.count_nonzero(m.weight)) for n, m in modules.items()}

    def reaches(self, ranked: RankedScores, sparsity: float) -> bool:
        """Whether ``sparsity`` on ``ranked`` only adds to what is held (same ranking, no fewer weights)."""
        return ranked is self.ranked and all(ranked.count(n, sparsity) >= k for n, k in self.k.items())

    @torch.no_grad()
    def advance(self, sparsity: float) -> dict:
        """Prune up to ``sparsity`` (which :meth:`reaches`); returns the sparsity report."""
        for n, k in self.k.items():
            k1 = self.ranked.count(n, sparsity)
            if k1 > k:
                vals = _take_and_zero(weight_2d(self.modules[n]), self._positions(n, k, k1), self.ranked.granularity)
                self.saved[n].append((k, k1, vals))
                self.zeros[n] += int(torch.count_nonzero(vals))
                self.k[n] = k1
        return self.report()

    def _positions(self, name: str, k0: int, k1: int) -> torch.Tensor:
        """The positions of the weights ranked k0 .. k1-1 of a layer, on its device, shared."""
        idx = self.ranked.between(name, k0, k1).to(self.modules[name].weight.device).contiguous()
        self.share([idx])
        return idx

    def report(self) -> dict:
        """Actual sparsity per layer and overall, as :func:`auditor.pruning.apply.sparsity_report` measures it."""
        total = {n: m.weight.numel() for n, m in self.modules.items()}
        zeros, size = sum(self.zeros.values()), sum(total.values())
        per_layer = {n: self.zeros[n] / total[n] for n in self.modules}
        return {"overall": zeros / max(1, size), "per_layer": per_layer, "zeros": zeros, "total": size}

    @torch.no_grad()
    def release(self) -> None:
        """Every zeroed weight back, bit-exactly; the held state is emptied."""
        for n, steps in self.saved.items():
            w = weight_2d(self.modules[n])
            for k0, k1, vals in reversed(steps):
                _put(w, self._positions(n, k0, k1), vals, self.ranked.granularity)
            steps.clear()
        self.k = dict.fromkeys(self.modules, 0)
