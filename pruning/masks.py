"""Pure mask kernels. A mask is a bool tensor shaped like the weight: True = keep, False = pruned.

Every kernel ranks scores with a *stable* sort, so for the same scores the pruned set at a higher
sparsity contains the pruned set at a lower one (masks are nested across sparsities), and ties are
broken by position, deterministically.

Shapes follow ``nn.Linear``: (out_features, in_features); rows are output units and N:M groups run
along the input dimension. Callers transpose GPT-2's ``Conv1D`` weights first.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from auditor.errors import ConfigError


def check_sparsity(sparsity: float) -> None:
    if not (isinstance(sparsity, int | float) and 0.0 <= float(sparsity) < 1.0):
        raise ConfigError(f"sparsity must be a fraction in [0, 1), got {sparsity!r} (e.g. 0.5 for 50%)")


def parse_structure(structure: str) -> tuple[int, int] | None:
    """None for "unstructured", else (n, m) for "N:M" (keep n of every m consecutive weights)."""
    if structure == "unstructured":
        return None
    try:
        n, m = (int(x) for x in structure.split(":"))
    except ValueError as e:
        raise ConfigError(f"structure must be 'unstructured' or 'N:M' like '2:4', got {structure!r}") from e
    if not 0 < n < m:
        raise ConfigError(f"N:M structure needs 0 < N < M (keep N of every M weights), got {structure!r}")
    return n, m


def n_pruned(count: int, sparsity: float) -> int:
    return round(sparsity * count)


def sort_keys(scores: torch.Tensor) -> torch.Tensor:
    """int32 keys in the scores' float order, equal where the scores are equal: the float32 bit pattern, with
    the magnitude bits of negatives flipped, -0.0 made +0.0 and every NaN last (as ``torch.sort`` places them).
    A stable sort of integers runs as a radix sort, several times faster than a stable float sort."""
    s = scores.float() + 0.0  # a fresh tensor, with -0.0 (equal to +0.0 as a float) made +0.0
    bits = s.view(torch.int32)
    keys = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negatives: larger magnitude, smaller key
    return keys.masked_fill_(torch.isnan(s), torch.iinfo(torch.int32).max)


def stable_order(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Indices of ``scores`` sorted ascending along ``dim``, ties in position order (a stable sort)."""
    if scores.dtype == torch.float64:  # float32 keys would merge distinct float64 scores
        return torch.sort(scores, dim=dim, stable=True).indices
    return torch.sort(sort_keys(scores), dim=dim, stable=True).indices


def layer_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the round(sparsity * numel) lowest scores of the whole tensor."""
    check_sparsity(sparsity)
    flat = scores.reshape(-1)
    k = n_pruned(flat.numel(), sparsity)
    mask = torch.ones_like(flat, dtype=torch.bool)
    if k:
        mask[stable_order(flat)[:k]] = False
    return mask.view_as(scores)


def row_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the round(sparsity * in_features) lowest scores of every output row (Wanda's comparison group)."""
    check_sparsity(sparsity)
    k = n_pruned(scores.shape[1], sparsity)
    mask = torch.ones_like(scores, dtype=torch.bool)
    if k:
        idx = stable_order(scores, dim=1)[:, :k]
        mask.scatter_(1, idx, False)
    return mask


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` highest scores in every group of ``m`` consecutive inputs of each row."""
    rows, cols = scores.shape
    if cols % m:
        raise ConfigError(f"N:M {n}:{m} needs in_features divisible by {m}; this layer has {cols}")
    groups = scores.reshape(rows, cols // m, m)
    idx = stable_order(groups)[..., : m - n]
    mask = torch.ones_like(groups, dtype=torch.bool)
    mask.scatter_(-1, idx, False)
    return mask.view(rows, cols)


class RankedScores:
    """Scores ranked once (stable sort), sliced per sparsity: the pruned set at k is the first k of the order.

    Each layer keeps, on the CPU, the stable ascending order of its comparison group (the whole layer, or each
    row) as int32 (int64 past 2**31 weights): no score tensor is kept. ``masks(sparsity)`` marks the first k
    of each order; ``between(name, k0, k1)`` gives the weights whose ranks lie in [k0, k1), which is all a sweep
    over rising sparsities needs to zero at its next point (:mod:`auditor.pruning.nested`). The pruned sets
    are nested across sparsities.
    """

    def __init__(self, scores: Mapping[str, torch.Tensor], granularity: str) -> None:
        if granularity not in ("layer", "row"):
            raise ConfigError(f"ranking is for layer or row granularity, got {granularity!r}")
        self.granularity = granularity
        self.shapes: dict[str, torch.Size] = {}
        self.devices: dict[str, torch.device] = {}
        self.order: dict[str, torch.Tensor] = {}
        for n in scores:  # one read per layer: scores may be computed on read (``WeightScores``)
            s = scores[n]
            self.shapes[n], self.devices[n], self.order[n] = s.shape, s.device, _order(s, granularity)
            del s

    def count(self, name: str, sparsity: float) -> int:
        """How many weights of each comparison group (the layer, or each row) are pruned at ``sparsity``."""
        shape = self.shapes[name]
        return n_pruned(shape.numel() if self.granularity == "layer" else shape[1], sparsity)

    def between(self, name: str, k0: int, k1: int) -> torch.Tensor:
        """Indices of the weights ranked k0..k1-1 (int64, on the CPU): flat positions in the (out, in) weight
        for a layer ranking, (rows, k1 - k0) column positions for a row ranking."""
        order = self.order[name]
        return (order[k0:k1] if self.granularity == "layer" else order[:, k0:k1]).long()

    def masks(self, sparsity: float) -> dict[str, torch.Tensor]:
        check_sparsity(sparsity)
        out = {}
        for n, shape in self.shapes.items():
            pruned = self.between(n, 0, self.count(n, sparsity))
            mask = torch.ones(shape, dtype=torch.bool)
            if self.granularity == "layer":
                mask.view(-1)[pruned] = False
            else:
                mask.scatter_(1, pruned, False)
            out[n] = mask.to(self.devices[n])
        return out


def _order(scores: torch.Tensor, granularity: str) -> torch.Tensor:
    """The stable ascending order of each group's scores (layer: all; row: each row), compact on the CPU."""
    flat = scores.reshape(-1) if granularity == "layer" else scores
    order = stable_order(flat)
    return order.to("cpu", torch.int32 if order.shape[-1] < 2**31 else torch.int64)


def global_masks(scores: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """Prune the round(sparsity * total) lowest scores across all layers together."""
    check_sparsity(sparsity)
    names, parts, shapes, devices = list(scores), [], [], []
    for n in names:  # one read per layer: scores may be computed on read (``WeightScores``)
        s = scores[n]
        parts.append(s.reshape(-1).float().cpu())
        shapes.append(s.shape)
        devices.append(s.device)
    flat = torch.cat(parts)
    del parts
    k = n_pruned(flat.numel(), sparsity)
    keep = torch.ones_like(flat, dtype=torch.bool)
    if k:
        keep[stable_order(flat)[:k]] = False
    out, start = {}, 0
    for n, shape, device in zip(names, shapes, devices, strict=True):
        size = shape.numel()
        out[n] = keep[start : start + size].view(shape).to(device)
        start += size
    return out


def make_masks(
    scores: Mapping[str, torch.Tensor], sparsity: float, structure: str = "unstructured", granularity: str = "layer"
) -> dict[str, torch.Tensor]:
    """Masks for every layer from its scores. N:M ignores ``sparsity`` (it is 1 - N/M by definition)."""
    nm = parse_structure(structure)
    if nm is not None:
        return {name: nm_mask(s, *nm) for name, s in scores.items()}
    if granularity == "global":
        return global_masks(scores, sparsity)
    kernels = {"layer": layer_mask, "row": row_mask}
    if granularity not in kernels:
        raise ConfigError(f"unknown granularity {granularity!r}; use layer, row or global")
    return {name: kernels[granularity](s, sparsity) for name, s in scores.items()}
