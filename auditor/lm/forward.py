"""Teacher-forced passes over many sequences, reading only the positions that are scored.

:func:`teacher_forced` batches the sequences (``batching``: length-sorted, padded, on the input device,
auto batch size halved on out-of-memory), runs one forward pass per batch and reduces the LM head at the
scored positions only, in chunks (``heads``). Sequence ``i`` is scored at the positions that predict its
tokens ``first[i] .. len - 1`` (``first[i] >= 1``). Padding is masked out and does not change any
statistic; with left padding, position ids come from the attention mask.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

import auditor.store.progress as progress
from auditor.errors import ConfigError
from auditor.lm import heads
from auditor.lm.batching import (
    accepts,
    input_device,
    length_order,
    pad_batch,
    position_ids,
    resolve_batch_size,
    run_batches,
)
from auditor.store.parallel import shard_map

log = logging.getLogger(__name__)

Reduce = Literal["logprob", "argmax", "stats", "el2n"]


def _rows(lengths: list[int], first: list[int], offsets: list[int], width: int) -> torch.Tensor:
    """Flat indices (row * width + position) of the scored positions, row by row."""
    spans = zip(lengths, first, offsets, strict=True)
    return torch.cat([r * width + o + torch.arange(f - 1, n - 1) for r, (n, f, o) in enumerate(spans)])


def _reduce(
    logits_at: heads.LogitsAt, targets: torch.Tensor, device: torch.device, reduce: Reduce, chunk: int
) -> tuple[torch.Tensor, ...]:
    targets = targets.to(device)
    if reduce == "stats":
        return heads.chunk_stats(logits_at, targets, chunk)
    if reduce == "el2n":
        return heads.chunk_el2n(logits_at, targets, chunk)
    if reduce == "argmax":
        return (heads.chunk_argmax(logits_at, targets.shape[0], device, chunk),)
    return (heads.chunk_logprob(logits_at, targets, chunk),)


@torch.no_grad()
def batch_pass(
    model: nn.Module,
    path: heads.Path,
    seqs: list[Sequence[int]],
    first: list[int],
    *,
    pad_id: int,
    reduce: Reduce,
    side: str = "right",
    chunk: int = heads.CHUNK,
) -> list[tuple[torch.Tensor, ...]]:
    """One batch: per sequence, the reduced statistics (CPU tensors) at its scored positions."""
    ids, mask = pad_batch(seqs, pad_id, input_device(model), side)
    width = ids.shape[1]
    lengths = [len(s) for s in seqs]
    offsets = [width - n if side == "left" else 0 for n in lengths]
    inputs: dict = {"input_ids": ids, "attention_mask": mask}
    if side == "left" and accepts(model, "position_ids"):
        inputs["position_ids"] = position_ids(mask)
    if accepts(model, "use_cache"):
        inputs["use_cache"] = False
    rows = _rows(lengths, first, offsets, width)
    targets = ids.reshape(-1).index_select(0, (rows + 1).to(ids.device))
    logits_at, device = heads.selected_logits(model, path, inputs, rows)
    out = [x.cpu() for x in _reduce(logits_at, targets, device, reduce, chunk)]
    counts = [n - f for n, f in zip(lengths, first, strict=True)]
    split = [x.split(counts) for x in out]
    return [tuple(s[r] for s in split) for r in range(len(seqs))]


def teacher_forced(
    model: nn.Module,
    seqs: Sequence[Sequence[int]],
    first: Sequence[int] | None = None,
    *,
    pad_id: int,
    reduce: Reduce = "logprob",
    batch_size: int | None = None,
    padding_side: str = "right",
    chunk: int | None = None,
    use_chunked_head: bool = True,
) -> list[tuple[torch.Tensor, ...]]:
    """Per sequence, in input order: the statistics ``reduce`` asks for at its scored positions (CPU).

    ``chunk``: rows of logits reduced at once (default: :func:`heads.rows_per_chunk` of the vocabulary).

    ``logprob``: (log p of each scored token,); ``argmax``: (the argmax token at each scored position,);
    ``stats``: (logprob, mu, sigma2) (see ``heads``); ``el2n``: (logprob, EL2N) of each scored position.
    ``first`` defaults to 1 (every token after the first).
    """
    if padding_side not in ("left", "right"):
        raise ConfigError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if pad_id is None:
        raise ConfigError("the tokenizer has no pad token; load the model with auditor.models.load.load_model")
    starts = [1] * len(seqs) if first is None else [max(1, int(f)) for f in first]
    if any(f >= len(s) for f, s in zip(starts, seqs, strict=True)):
        raise ConfigError("a sequence has no position to score (first >= its length)")

    def run(idx: list[int]) -> list[tuple[torch.Tensor, ...]]:
        sub_seqs, sub_starts = [seqs[i] for i in idx], [starts[i] for i in idx]
        return _local(model, sub_seqs, sub_starts, pad_id, reduce, batch_size, padding_side, chunk, use_chunked_head)

    return shard_map(list(range(len(seqs))), run)  # data parallel: each process scores a share


def _local(
    model: nn.Module,
    seqs: Sequence[Sequence[int]],
    starts: list[int],
    pad_id: int,
    reduce: Reduce,
    batch_size: int | None,
    padding_side: str,
    chunk: int | None,
    use_chunked_head: bool,
) -> list[tuple[torch.Tensor, ...]]:
    """:func:`teacher_forced` on this process's sequences."""
    if not seqs:
        return []
    probe = torch.tensor([list(seqs[0][:8])], device=input_device(model))
    path = heads.chunked_head(model, probe) if use_chunked_head else None
    chunk = chunk or heads.rows_per_chunk(getattr(getattr(model, "config", None), "vocab_size", None))
    out: list[tuple[torch.Tensor, ...] | None] = [None] * len(seqs)

    def step(batch: list[int]) -> None:
        res = batch_pass(
            model,
            path,
            [seqs[i] for i in batch],
            [starts[i] for i in batch],
            pad_id=pad_id,
            reduce=reduce,
            side=padding_side,
            chunk=chunk,
        )
        for i, r in zip(batch, res, strict=True):
            out[i] = r

    order = length_order([len(s) for s in seqs])
    with progress.bar(len(seqs), "teacher-forced pass", unit="seq", logger=log) as p:

        def counted(batch: list[int]) -> None:
            step(batch)
            p.update(len(batch))  # once per batch, after it succeeded (an out-of-memory retry is not counted)

        run_batches(order, counted, resolve_batch_size(batch_size, model), what="teacher-forced scoring")
    return out  # type: ignore[return-value]
