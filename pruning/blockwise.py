"""Block-by-block calibration, as SparseGPT's and Wanda's reference scripts prune.

The repeated blocks of a causal LM (``model.layers.3``, ``transformer.h.3``: a module name up to its
first numeric part) are pruned in order; each block is calibrated on the outputs of the blocks before
it *as already pruned*. One dense forward pass captures the first block's input and every block's
other arguments (attention mask, position embeddings: they do not depend on the weights); then each
block runs alone on the cached hidden states twice, once with hooks collecting its layers' input
statistics, once after pruning to produce the next block's inputs. Peak extra memory is the cached
hidden states plus one block's statistics; the cost is about three forward passes, not one per block.

Blocks are found by name, not by architecture. When the model does not chain its blocks (a block's
output is not the next block's input, e.g. two separate stacks), every block is calibrated with a full
forward pass of the partly pruned model instead: the same result, at one pass per block. Target layers
outside numbered blocks are calibrated last, on a full forward pass of the pruned model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from auditor.pruning.calibration import collect_inputs

Update = Callable[[str, torch.Tensor], None]
# prune(sublayers, stats) changes the sublayers' weights in place; stats is what ``new_stats`` returned
PruneBlock = Callable[[dict[str, nn.Module], object], None]


def block_of(name: str) -> str:
    """The repeated block a layer belongs to: its name up to the first numeric part
    (``model.layers.3.mlp.up_proj`` -> ``model.layers.3``); layers outside numbered blocks form their own."""
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + 1])
    return name


def group_by_block(modules: dict[str, nn.Module]) -> tuple[dict[str, dict[str, nn.Module]], dict[str, nn.Module]]:
    """(numbered block name -> its target layers, in model order; target layers outside any block)."""
    blocks: dict[str, dict[str, nn.Module]] = {}
    loose: dict[str, nn.Module] = {}
    for name, m in modules.items():
        numbered = any(p.isdigit() for p in name.split("."))
        (blocks.setdefault(block_of(name), {}) if numbered else loose)[name] = m
    return blocks, loose


def _to(obj: object, device: torch.device) -> object:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple | list):
        return type(obj)(_to(x, device) for x in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _hidden(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, tuple | list) else out  # type: ignore[return-value]


@dataclass
class Captured:
    """Per batch: the first block's hidden input, and every block's (args after the hidden, kwargs)."""

    hidden: list[torch.Tensor] = field(default_factory=list)
    calls: list[list[tuple[tuple, dict]]] = field(default_factory=list)
    chained: bool = True


@torch.no_grad()
def capture(model: nn.Module, blocks: list[nn.Module], rows: list[list[int]], batch_size: int) -> Captured:
    """One dense forward pass per batch, recording what each block is called with; checks that each
    block's output is the next block's input (``chained``)."""
    device = next(model.parameters()).device
    cap = Captured()
    calls: list[tuple[tuple, dict]] = []
    last_out: list[torch.Tensor | None] = [None]

    def pre(i: int, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        rest_kwargs = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        calls.append((tuple(args[1:]), rest_kwargs))
        if i == 0:
            cap.hidden.append(hidden)
        elif last_out[0] is None or not (last_out[0] is hidden or torch.equal(last_out[0], hidden)):
            cap.chained = False

    def post(out: object) -> None:
        last_out[0] = _hidden(out)

    handles = []
    for i, b in enumerate(blocks):
        handles.append(b.register_forward_pre_hook(lambda _m, a, k, i=i: pre(i, a, k), with_kwargs=True))
        handles.append(b.register_forward_hook(lambda _m, _a, o: post(o)))
    try:
        for i in range(0, len(rows), batch_size):
            calls = []
            model(input_ids=torch.tensor(rows[i : i + batch_size], device=device), use_cache=False)
            if len(calls) != len(blocks):
                cap.chained = False  # a block was called more or less than once per pass
            cap.calls.append(calls)
    finally:
        for h in handles:
            h.remove()
    return cap


def _run_block(block: nn.Module, hidden: torch.Tensor, call: tuple[tuple, dict]) -> torch.Tensor:
    device = next(block.parameters()).device
    args, kwargs = call
    return _hidden(block(hidden.to(device), *_to(args, device), **_to(kwargs, device)))


def _hooked(modules: dict[str, nn.Module], update: Update) -> list:
    def hook(_m: nn.Module, args: tuple, name: str) -> None:
        x = args[0]
        update(name, x.reshape(-1, x.shape[-1]).float())

    return [m.register_forward_pre_hook(lambda m, a, n=n: hook(m, a, n)) for n, m in modules.items()]


@torch.no_grad()
def prune_sequentially(
    model: nn.Module,
    modules: dict[str, nn.Module],
    rows: list[list[int]],
    new_stats: Callable[[], tuple[object, Update]],
    prune: PruneBlock,
    batch_size: int = 8,
) -> None:
    """Prune ``modules`` block by block, each block calibrated on the pruned outputs of those before it.

    ``new_stats()`` returns ``(stats, update)``: ``update(name, X)`` receives each target layer's input
    rows (tokens, in_features; float32) and accumulates into ``stats``; ``prune(sublayers, stats)``
    then prunes that block's layers in place."""
    blocks, loose = group_by_block(modules)
    block_modules = [model.get_submodule(b) for b in blocks]
    cap = capture(model, block_modules, rows, batch_size) if blocks else Captured()
    hidden = cap.hidden
    for k, (sub, block) in enumerate(zip(blocks.values(), block_modules, strict=True)):
        stats, update = new_stats()
        if not cap.chained:
            collect_inputs(model, sub, rows, update, batch_size)
            prune(sub, stats)
            continue
        handles = _hooked(sub, update)
        try:
            for h, calls in zip(hidden, cap.calls, strict=True):
                _run_block(block, h, calls[k])
        finally:
            for h in handles:
                h.remove()
        prune(sub, stats)
        if k + 1 < len(block_modules):
            hidden = [_run_block(block, h, calls[k]) for h, calls in zip(hidden, cap.calls, strict=True)]
    if loose:
        stats, update = new_stats()
        collect_inputs(model, loose, rows, update, batch_size)
        prune(loose, stats)
