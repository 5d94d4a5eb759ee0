"""The one training step of the project: collate a batch, the causal-LM loss, one optimizer step, the LR schedule.

Used by every trainer: the lab's from-scratch training (:mod:`auditor.lab.train`), its fine-tuning
(:mod:`auditor.lab.finetune`) and the gradient unlearners (:mod:`auditor.unlearning.trainer`). A trainer
owns its plan of batches, its optimizer and its loss; this module owns what they share:

* :func:`collate`: token id lists right-padded into (ids, attention mask, labels with padding at -100);
* :func:`causal_lm_loss`: the model's own next-token loss on a batch (optionally under autocast);
* :func:`train_step`: set the step's learning rate, zero the gradients, backward, clip, step;
* :func:`warmup_cosine`: linear warm-up then cosine decay to a floor (the usual LM schedule).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch

from auditor.lm.batching import pad_batch

__all__ = ["Batch", "causal_lm_loss", "collate", "train_step", "warmup_cosine"]


@dataclass
class Batch:
    """Right-padded token ids; ``labels`` is ``input_ids`` with padding set to -100; ``index`` are row positions."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    index: list[int] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        """Real (unpadded) tokens in the batch."""
        return int(self.attention_mask.sum())


def collate(
    seqs: Sequence[Sequence[int]], index: Iterable[int], pad_id: int, device: str | torch.device | None = None
) -> Batch:
    """The rows ``index`` of ``seqs`` right-padded (:func:`auditor.lm.batching.pad_batch`) on ``device``."""
    index = list(index)
    ids, mask = pad_batch([seqs[i] for i in index], pad_id, device)
    return Batch(ids, mask, ids.masked_fill(mask == 0, -100), index)


def causal_lm_loss(
    model: torch.nn.Module, batch: Batch, autocast: AbstractContextManager | None = None
) -> torch.Tensor:
    """The model's mean next-token loss on ``batch`` (padding excluded), the forward under ``autocast`` if given."""
    with autocast or nullcontext():
        return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss


def train_step(
    opt: torch.optim.Optimizer,
    params: Iterable[torch.nn.Parameter],
    loss: torch.Tensor,
    *,
    max_grad_norm: float = 1.0,
    lr: float | None = None,
) -> float:
    """One optimizer step on ``loss``: the learning rate set to ``lr`` (the schedule's value; None keeps it),
    gradients zeroed, backward, the gradients of ``params`` clipped to ``max_grad_norm`` (0: not clipped),
    step. Returns the loss as a float (one host sync per step)."""
    if lr is not None:
        for g in opt.param_groups:
            g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt.step()
    return loss.item()


def warmup_cosine(step: int, total: int, peak: float, warmup_frac: float, floor: float) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up to ``peak`` over ``warmup_frac`` of the steps (at
    least one), then cosine decay to ``floor * peak`` at the last step."""
    warm = max(1, int(warmup_frac * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
