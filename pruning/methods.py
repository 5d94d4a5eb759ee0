"""Pruning methods share one shape: ``prepare`` (expensive, once) -> scores; ``masks`` (cheap, per sparsity).

The spec, the registry and magnitude pruning live here; Wanda and SparseGPT have their own files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from auditor.pruning.apply import weight_2d
from auditor.pruning.masks import RankedScores, check_sparsity, make_masks, parse_structure
from auditor.pruning.targets import DEFAULT_IGNORE, DEFAULT_TARGETS
from auditor.registry import Registry


@dataclass(frozen=True)
class PruneSpec:
    """What to prune and how much."""

    sparsity: float  # fraction of weights to zero, in [0, 1); ignored for N:M
    structure: str = "unstructured"  # "unstructured" or "N:M" (keep N of every M inputs), e.g. "2:4"
    granularity: str | None = None  # "layer" | "row" | "global"; None: the method's default
    targets: tuple[str, ...] = DEFAULT_TARGETS  # regexes of module names to prune
    ignore: tuple[str, ...] = field(default=DEFAULT_IGNORE)  # regexes never pruned (embeddings, lm_head)

    def __post_init__(self) -> None:
        check_sparsity(self.sparsity)
        parse_structure(self.structure)


class Pruner(Protocol):
    name: str
    default_granularity: str

    def prepare(
        self, modules: dict[str, nn.Module], model: nn.Module, calibration: list[list[int]] | None
    ) -> Mapping[str, torch.Tensor]:
        """Scores per layer (shaped like ``weight_2d``): what is expensive (calibration) is done once; the
        mapping may compute each layer's scores from its weight when read (``WeightScores``)."""
        ...

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]: ...


PRUNERS: Registry[type] = Registry("pruning method")


def describe(method: str) -> str:
    """One sentence on what ``method`` does and which paper it follows (for reports); '' if unknown."""
    if method not in PRUNERS:
        return ""
    doc = PRUNERS.get(method).__doc__ or ""
    return " ".join(doc.split("\n\n")[0].split())


class WeightScores(Mapping[str, torch.Tensor]):
    """Scores computed from each layer's current weight when read, never stored: a sweep keeps only the
    ranking (``RankedScores``), not a weight-sized score tensor per layer beside it. Read them while the
    weights are the dense ones (``Pruning`` ranks before it prunes, and restores the weights before another
    method or granularity is ranked)."""

    def __init__(self, modules: dict[str, nn.Module], score: Callable[[str, torch.Tensor], torch.Tensor]) -> None:
        self._modules, self._score = modules, score

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._score(name, weight_2d(self._modules[name]).detach())

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


@PRUNERS.register("magnitude")
class Magnitude:
    """Magnitude pruning: score = |W|, compared per layer by default; one ranking serves every sparsity
    (Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks", arXiv:1506.02626)."""

    name = "magnitude"
    default_granularity = "layer"
    needs_calibration = False
    ranked = True  # one stable ranking of the scores serves every sparsity (nested masks)

    def prepare(self, modules: dict[str, nn.Module], model: nn.Module | None = None, calibration=None) -> WeightScores:
        return WeightScores(modules, lambda name, w: w.abs())

    def masks(self, scores: dict[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
        return ranked_masks(self, scores, spec)


def ranking(pruner: object, scores: Mapping[str, torch.Tensor], spec: PruneSpec) -> RankedScores | None:
    """The ranking of a ranked pruner (``ranked = True``) for unstructured layer or row masks, made on first
    use and cached on the pruner (read the scores while the weights are dense); None for other specs."""
    granularity = spec.granularity or pruner.default_granularity  # type: ignore[attr-defined]
    if not getattr(pruner, "ranked", False) or spec.structure != "unstructured" or granularity == "global":
        return None
    cache = pruner.__dict__.setdefault("_ranked", {})
    key = (id(scores), granularity)
    if key not in cache:
        cache.clear()
        cache[key] = RankedScores(scores, granularity)
    return cache[key]


def ranked_masks(pruner: object, scores: Mapping[str, torch.Tensor], spec: PruneSpec) -> dict[str, torch.Tensor]:
    """Masks for ``spec``; unstructured layer/row masks come from a ranking cached on the pruner."""
    ranked = ranking(pruner, scores, spec)
    if ranked is None:
        granularity = spec.granularity or pruner.default_granularity  # type: ignore[attr-defined]
        return make_masks(scores, spec.sparsity, spec.structure, granularity)
    return ranked.masks(spec.sparsity)
