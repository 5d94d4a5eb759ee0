"""Prune a model at one or many sparsities without reloading it.

``Pruning(model, method, calibration).at(spec)`` is a context manager: inside it the model is pruned
at ``spec``; on exit the original weights are back, bit-exactly. Magnitude and ``wanda_nested`` rank
their scores once (``prepare``) and take the first k of the ranking per sparsity, so masks are nested;
``wanda`` calibrates block by block at each sparsity. SparseGPT changes the kept weights, so it runs from
an in-memory copy of the original weights at every sparsity (held on the CPU, so an accelerator holds no
second copy).

A sweep runs its points inside ``with pruning.session():``. There, ``at`` leaves a ranked method's
pruning in place on exit, and the next point at a higher sparsity zeroes only the weights it adds
(:mod:`auditor.pruning.nested`); the weights come back once, bit-exactly, when the session ends, at a
dense point, or before anything that needs the dense weights (another granularity, structure or method).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from auditor.errors import ConfigError, InputError
from auditor.pruning.apply import masked, sparsity_report, weight_2d
from auditor.pruning.methods import PRUNERS, PruneSpec, ranking
from auditor.pruning.nested import HeldPruning
from auditor.pruning.targets import find_targets


def select_targets(model: nn.Module, spec: PruneSpec) -> dict[str, nn.Module]:
    """Target layers for ``spec``; a pattern set that matches nothing is an error listing what exists."""
    modules = find_targets(model, spec.targets, spec.ignore)
    if not modules:
        every = list(find_targets(model, (".*",), ()))
        raise ConfigError(
            f"no layer matches targets {list(spec.targets)} minus ignore {list(spec.ignore)}; "
            f"Linear/Conv1D layers found: {', '.join(every[:12])}{' ...' if len(every) > 12 else ''}"
        )
    for name, m in modules.items():
        if m.weight.device.type == "meta":
            raise ConfigError(
                f"layer {name} is offloaded (its weights are on the meta device, brought in per forward pass); "
                "pruning changes weights in place and needs them resident: drop --offload or allow more memory"
            )
        if not m.weight.is_floating_point():
            raise InputError(
                f"layer {name} holds quantized ({m.weight.dtype}) weights; load the checkpoint dequantized "
                "(GGUF files are dequantized by transformers on load) before pruning"
            )
    return modules


class Pruning:
    """Scores computed once for ``method``; ``at(spec)`` prunes temporarily."""

    def __init__(
        self,
        model: nn.Module,
        method: str,
        calibration: list[list[int]] | None = None,
        spec: PruneSpec | None = None,
        share: Callable[[list[torch.Tensor]], None] | None = None,
    ) -> None:
        """``share``: called with each point's masks (or, for weight-updating methods, the updated weights)
        before they are used, to make them identical across data-parallel processes (the caller's
        broadcast, e.g. ``auditor.store.parallel.broadcast_tensors``); None: nothing to share."""
        self.model = model
        self.share = share or (lambda tensors: None)
        self.pruner = PRUNERS.get(method)()
        self.method = method
        self.modules = select_targets(model, spec or PruneSpec(sparsity=0.0))
        if getattr(self.pruner, "needs_calibration", False) and not calibration:
            raise InputError(f"{method} needs calibration texts; pass --calibration FILE")
        self.scores = self.pruner.prepare(self.modules, model, calibration)
        self._in_session = False
        self._held: HeldPruning | None = None

    @contextmanager
    def session(self) -> Iterator[Pruning]:
        """Points inside keep a ranked method's pruning between them (see the module docstring); on exit,
        even on error, the original weights are back."""
        self._in_session = True
        try:
            yield self
        finally:
            self._in_session = False
            self.release()

    def release(self) -> None:
        """Write back what a session holds pruned (nothing if it holds nothing)."""
        if self._held is not None:
            held, self._held = self._held, None
            held.release()

    @contextmanager
    def at(self, spec: PruneSpec) -> Iterator[dict]:
        """The model pruned at ``spec`` inside the block; yields the actual-sparsity report. Outside a
        session the weights are restored on exit; inside one, a ranked method's stay pruned until needed."""
        if self._in_session and self._held is not None:
            granularity = spec.granularity or self.pruner.default_granularity
            if spec.structure != "unstructured" or granularity != self._held.ranked.granularity:
                self.release()  # rank (or mask) only dense weights
        if spec.sparsity == 0.0 and spec.structure == "unstructured":
            self.release()
            yield sparsity_report(self.modules)
            return
        ranked = ranking(self.pruner, self.scores, spec) if self._in_session else None
        if ranked is not None:
            if self._held is None or not self._held.reaches(ranked, spec.sparsity):
                self.release()
                self._held = HeldPruning(self.modules, ranked, self.share)
            yield self._held.advance(spec.sparsity)
            return
        self.release()
        if getattr(self.pruner, "updates_weights", False):
            with self._updated(spec) as rep:
                yield rep
            return
        masks = self.pruner.masks(self.scores, spec)
        self.share(list(masks.values()))  # data parallel: the main process's masks everywhere
        with masked(self.modules, masks) as rep:
            yield rep

    @contextmanager
    def _updated(self, spec: PruneSpec) -> Iterator[dict]:
        originals = {n: m.weight.detach().to("cpu", copy=True) for n, m in self.modules.items()}
        try:
            self.pruner.apply(self.modules, self.scores, spec)
            with torch.no_grad():  # data parallel: the main process's updated weights everywhere
                self.share([m.weight.data for m in self.modules.values()])
            yield sparsity_report(self.modules)
        finally:
            with torch.no_grad():
                for n, m in self.modules.items():
                    m.weight.copy_(originals[n])

    def apply_permanently(self, spec: PruneSpec) -> dict:
        """Prune in place for good (for saving a pruned checkpoint); returns the sparsity report."""
        if getattr(self.pruner, "updates_weights", False):
            self.pruner.apply(self.modules, self.scores, spec)
        else:
            masks = self.pruner.masks(self.scores, spec)
            with torch.no_grad():
                for n, mask in masks.items():
                    weight_2d(self.modules[n])[~mask.to(self.modules[n].weight.device)] = 0
        return sparsity_report(self.modules)
