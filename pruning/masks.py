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


def layer_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the round(sparsity * numel) lowest scores of the whole tensor."""
    check_sparsity(sparsity)
    flat = scores.reshape(-1)
    k = n_pruned(flat.numel(), sparsity)
    mask = torch.ones_like(flat, dtype=torch.bool)
    if k:
        mask[torch.sort(flat, stable=True).indices[:k]] = False
    return mask.view_as(scores)


def row_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune the round(sparsity * in_features) lowest scores of every output row (Wanda's comparison group)."""
    check_sparsity(sparsity)
    k = n_pruned(scores.shape[1], sparsity)
    mask = torch.ones_like(scores, dtype=torch.bool)
    if k:
        idx = torch.sort(scores, dim=1, stable=True).indices[:, :k]
        mask.scatter_(1, idx, False)
    return mask


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` highest scores in every group of ``m`` consecutive inputs of each row."""
    rows, cols = scores.shape
    if cols % m:
        raise ConfigError(f"N:M {n}:{m} needs in_features divisible by {m}; this layer has {cols}")
    groups = scores.reshape(rows, cols // m, m)
    idx = torch.sort(groups, dim=-1, stable=True).indices[..., : m - n]
    mask = torch.ones_like(groups, dtype=torch.bool)
    mask.scatter_(-1, idx, False)
    return mask.view(rows, cols)


class RankedScores:
    """Scores ranked once (stable sort), sliced per sparsity by comparing each weight's rank with k.

    Each layer keeps, on the CPU, the rank of every weight among its comparison group (the whole layer,
    or its row) as int32 (int64 past 2**31 weights). ``masks(sparsity)`` is then one comparison per
    layer, ``rank >= k``: no sort, no scatter and no int64 copy of the order, which is what makes every
    point of a sweep after the first cheap on a large model. The pruned set ``rank < k`` is exactly the
    first k of the stable order, so masks are nested across sparsities.
    """

    def __init__(self, scores: Mapping[str, torch.Tensor], granularity: str) -> None:
        if granularity not in ("layer", "row"):
            raise ConfigError(f"ranking is for layer or row granularity, got {granularity!r}")
        self.granularity = granularity
        self.shapes: dict[str, torch.Size] = {}
        self.devices: dict[str, torch.device] = {}
        self.rank: dict[str, torch.Tensor] = {}
        for n in scores:  # one read per layer: scores may be computed on read (``WeightScores``)
            s = scores[n]
            self.shapes[n], self.devices[n], self.rank[n] = s.shape, s.device, _ranks(s, granularity)
            del s

    def masks(self, sparsity: float) -> dict[str, torch.Tensor]:
        check_sparsity(sparsity)
        out = {}
        for n, rank in self.rank.items():
            shape = self.shapes[n]
            k = n_pruned(rank.numel() if self.granularity == "layer" else shape[1], sparsity)
            out[n] = rank.ge(k).view(shape).to(self.devices[n])
        return out


def _ranks(scores: torch.Tensor, granularity: str) -> torch.Tensor:
    """Each score's 0-based position in the stable ascending order of its group (layer: all; row: its row)."""
    flat = scores.reshape(-1) if granularity == "layer" else scores
    order = torch.sort(flat, dim=-1, stable=True).indices.cpu()
    dtype = torch.int32 if order.numel() < 2**31 else torch.int64
    positions = torch.arange(order.shape[-1], dtype=dtype).expand_as(order)
    rank = torch.empty(order.shape, dtype=dtype)
    rank.scatter_(-1, order, positions)
    return rank


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
        keep[torch.sort(flat, stable=True).indices[:k]] = False
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
