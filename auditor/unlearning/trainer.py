"""The loop shared by the gradient-based unlearners: batch plans, token log-probs, AdamW with clipping.

Batches and the optimizer step are the project's one training step (:mod:`auditor.lm.training`).

A method subclasses :class:`GradientUnlearner` and writes only its loss on a forget batch (and a retain
batch, when it uses one). The loop is architecture-agnostic (only ``model(input_ids, attention_mask)``
and ``model.parameters()`` are used), seeded (batch order from ``config.seed``), device-aware (batches
go to the device of the input embeddings, which is the first device under ``device_map="auto"``), and
safe in half precision: log-softmax is taken in float32, and with ``config.upcast`` a bf16/fp16 model is
trained in float32 and cast back at the end (AdamW's updates, ~lr in size, are below bf16's resolution
for most weights, so training in bf16 would silently do almost nothing).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.progress as progress
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.batching import input_device
from auditor.lm.training import Batch, collate, train_step
from auditor.unlearning.base import StepObserver, UnlearnConfig

log = logging.getLogger(__name__)


def encode(tokenizer: PreTrainedTokenizerBase, texts: TextSet, max_len: int) -> list[list[int]]:
    """Token ids of each text (with the tokenizer's special tokens, as the scorers use), truncated to max_len."""
    seqs = tokenizer(list(texts.texts), add_special_tokens=True, truncation=True, max_length=max_len)["input_ids"]
    short = [i for i, s in zip(texts.ids, seqs, strict=True) if len(s) < 2]
    if short:
        shown = ", ".join(short[:20])
        raise InputError(f"{texts.source}: texts with fewer than 2 tokens cannot be trained on: {shown}; drop them")
    return seqs


def token_logprobs(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p of each next token, valid-position mask), both (batch, len - 1), the log-probs in float32."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
    target = batch.labels[:, 1:].to(logits.device)  # a model split over devices returns logits on its last one
    valid = target != -100
    lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, target.clamp_min(0)[..., None]).squeeze(-1)
    return lp * valid, valid


def mean_token_nll(lp: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over all valid tokens of the batch (the usual LM loss)."""
    return -lp.sum() / valid.sum().clamp_min(1)


def batch_plan(n: int, batch_size: int, steps: int, rng: random.Random) -> list[list[int]]:
    """``steps`` batches of indices into ``n`` texts: epochs of seeded shuffles, cycled as needed."""
    plan: list[list[int]] = []
    while len(plan) < steps:
        order = list(range(n))
        rng.shuffle(order)
        plan.extend(order[i : i + batch_size] for i in range(0, n, batch_size))
    return plan[:steps]


@contextmanager
def trainable(model: PreTrainedModel, upcast: bool) -> Iterator[list[torch.nn.Parameter]]:
    """Make every floating-point parameter trainable (float32 if ``upcast`` and the model is half precision);
    on exit restore the dtype, the ``requires_grad`` flags and eval mode, and drop the gradients."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    dtype = params[0].dtype
    if upcast and dtype in (torch.float16, torch.bfloat16):
        model.float()
    try:
        trainable_params = [p for p in model.parameters() if p.is_floating_point()]
        for p in trainable_params:
            p.requires_grad_(True)
        yield trainable_params
    finally:
        for p in model.parameters():
            p.grad = None
        if model.dtype != dtype:
            model.to(dtype)
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.eval()


class GradientUnlearner:
    """Base class of the gradient methods: subclasses set ``name`` and ``needs_retain`` and define ``loss``."""

    name = ""
    needs_retain = False
    iterative = True

    def uses_retain(self, retain: TextSet | None, config: UnlearnConfig) -> bool:
        return retain is not None and len(retain) > 0 and config.retain_weight > 0

    def prepare(self, model: PreTrainedModel, forget: list[list[int]], pad_id: int, config: UnlearnConfig) -> None:
        """Called once before the first step, with the unmodified model in eval mode (NPO's reference)."""

    def loss(
        self, model: PreTrainedModel, forget: Batch, retain: Batch | None, config: UnlearnConfig
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def _step(
        self,
        model: PreTrainedModel,
        opt: torch.optim.Optimizer,
        params: list[torch.nn.Parameter],
        fb: Batch,
        rb: Batch | None,
        config: UnlearnConfig,
        step: int,
    ) -> dict[str, float]:
        """One optimizer step; returns the loss and its parts (the loss read once, as the finiteness check needs)."""
        loss, parts = self.loss(model, fb, rb, config)
        if not torch.isfinite(loss):
            raise ConfigError(f"{self.name}: the loss became {loss.item()} at step {step}; lower lr (now {config.lr})")
        return {"loss": train_step(opt, params, loss, max_grad_norm=config.max_grad_norm), **parts}

    def run(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        forget: TextSet,
        retain: TextSet | None,
        config: UnlearnConfig,
        observer: StepObserver | None = None,
    ) -> dict:
        """Run the loop in place; return steps, seconds, tokens and the first and final loss parts.

        ``observer`` (optional) is started, then called at step 0 and after each step it says is due."""
        device = input_device(model)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        f_seqs = encode(tokenizer, forget, config.max_len)
        use_retain = self.uses_retain(retain, config)
        r_seqs = encode(tokenizer, retain, config.max_len) if use_retain and retain is not None else []
        per_epoch = math.ceil(len(f_seqs) / config.batch_size)
        steps = config.steps or config.epochs * per_epoch
        rng = random.Random(f"unlearn-{config.seed}")
        f_plan = batch_plan(len(f_seqs), config.batch_size, steps, rng)
        r_plan = batch_plan(len(r_seqs), config.batch_size, steps, rng) if r_seqs else []
        torch.manual_seed(config.seed)
        history: list[dict[str, float]] = []
        t0, tokens = time.time(), 0
        with trainable(model, config.upcast) as params:
            model.eval()
            with torch.no_grad():
                self.prepare(model, f_seqs, pad, config)
            if observer is not None:
                observer.start(model, tokenizer, forget, steps)
                observer.observe(model, 0)
            opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
            model.train()
            with progress.bar(steps, f"unlearning ({self.name})", unit="step", logger=log) as p:
                for step in range(steps):
                    fb = collate(f_seqs, f_plan[step], pad, device)
                    rb = collate(r_seqs, r_plan[step], pad, device) if r_plan else None
                    history.append(self._step(model, opt, params, fb, rb, config, step))
                    tokens += fb.n_tokens + (rb.n_tokens if rb is not None else 0)
                    p.update(1, **{k: round(v, 4) for k, v in history[-1].items()})
                    if observer is not None and observer.due(step + 1):
                        observer.observe(model, step + 1)
            del opt
        tail = history[-min(per_epoch, len(history)) :]
        return {
            "steps": steps,
            "epochs": round(steps / per_epoch, 3),
            "seconds": round(time.time() - t0, 2),
            "tokens": tokens,
            "forget_texts": len(f_seqs),
            "retain_texts": len(r_seqs),
            "first_losses": {k: round(v, 5) for k, v in history[0].items()},
            "final_losses": {k: round(sum(h[k] for h in tail) / len(tail), 5) for k in tail[0]},
        }
