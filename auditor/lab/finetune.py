"""Full fine-tuning of a pretrained causal LM on a list of documents: a plain, seeded AdamW loop.

One document per row (no attention across documents), EOS appended, right padding masked out of the loss,
length-bucketed batches within short windows of the stream (so the stream's epoch order is kept and padding
stays small). Linear warm-up then cosine decay to 10% (the usual fine-tuning schedule, e.g. Wolf et al.
2020's ``get_cosine_schedule_with_warmup``), gradient clipping at 1.0. float32 on CPU; on a GPU the forward
and backward run under bf16 autocast with float32 master weights (Micikevicius et al. 2018, mixed precision).
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.progress as progress
from auditor.lab.checkpoints import CheckpointSaver
from auditor.lm.training import causal_lm_loss, collate, train_step, warmup_cosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSpec:
    """Optimisation settings of a fine-tuning run."""

    epochs: int = 4  # passes over the members (canaries are counted in total insertions, not per epoch)
    lr: float = 1e-4
    batch_size: int = 8  # documents per step
    warmup_frac: float = 0.05
    weight_decay: float = 0.0
    threads: int = 2  # torch CPU threads
    max_steps: int = 0  # >0: stop after this many steps (reduced builds)


def step_plan(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of stream indices: windows of 16 batches, sorted by length inside a window, batches shuffled
    within the window (so a document is trained on near its place in the stream)."""
    rng = random.Random(f"{seed}-batches")
    window = batch_size * 16
    plan: list[list[int]] = []
    for start in range(0, len(lengths), window):
        idx = sorted(range(start, min(start + window, len(lengths))), key=lambda i: lengths[i])
        chunk = [idx[j : j + batch_size] for j in range(0, len(idx), batch_size)]
        rng.shuffle(chunk)
        plan += chunk
    return plan


def lr_at(step: int, total: int, spec: FinetuneSpec) -> float:
    """The fine-tuning schedule: linear warm-up, then cosine decay to 10% of ``spec.lr``."""
    return warmup_cosine(step, total, spec.lr, spec.warmup_frac, floor=0.1)


def _chunks(xs: list[float], n: int) -> list[list[float]]:
    return [xs[i : i + n] for i in range(0, len(xs), n)]


def finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    docs: list[str],
    spec: FinetuneSpec,
    seed: int,
    device: str = "cpu",
    checkpoints: CheckpointSaver | None = None,
) -> dict:
    """Train every parameter of ``model`` on ``docs`` in order (one step per planned batch); returns figures.

    ``checkpoints`` saves intermediate checkpoints (Biderman et al. 2023) without changing the run."""
    torch.set_num_threads(spec.threads)
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    ids = [e + [eos] for e in tokenizer(docs, add_special_tokens=True)["input_ids"]]
    plan = step_plan([len(x) for x in ids], spec.batch_size, seed)
    if spec.max_steps:
        plan = plan[: spec.max_steps]
    if checkpoints is not None:
        checkpoints.plan(plan)  # a batch of stream indices is the documents that step trains on
    model.to(device)
    model.requires_grad_(True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, betas=(0.9, 0.95), weight_decay=spec.weight_decay)
    cuda = device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    t0, c0, tokens, losses = time.time(), time.process_time(), 0, []
    with progress.bar(len(plan), "fine-tuning", unit="step", logger=log) as p:
        for step, b in enumerate(plan):
            batch = collate(ids, b, tokenizer.pad_token_id, device)
            lr = lr_at(step, len(plan), spec)
            loss = train_step(opt, model.parameters(), causal_lm_loss(model, batch, autocast), lr=lr)
            tokens += batch.n_tokens
            losses.append(loss)
            if checkpoints is not None:
                checkpoints.after_step(step + 1, model)
            p.update(1, loss=round(loss, 4), **{"tok/s": round(tokens / max(time.time() - t0, 1e-9))})
    model.eval()
    model.requires_grad_(False)
    elapsed = time.time() - t0
    per = max(1, len(losses) // 10)
    return {
        "steps": len(plan),
        "train_documents": len(docs),
        "train_tokens": tokens,
        "train_seconds": round(elapsed, 1),
        "train_cpu_seconds": round(time.process_time() - c0, 1),  # all threads; machine load does not inflate it
        "tokens_per_second": round(tokens / max(elapsed, 1e-9), 1),
        "device": device,
        "precision": "bf16 autocast" if cuda else "float32",
        "loss_first": round(sum(losses[:per]) / per, 4) if losses else None,
        "loss_last": round(sum(losses[-per:]) / per, 4) if losses else None,
        "loss_curve": [round(sum(chunk) / len(chunk), 4) for chunk in _chunks(losses, per)],
    }
