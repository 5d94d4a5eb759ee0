"""Train the lab's tokenizer and small causal LM. Pure training code: no file layout decisions.

The tokenizer is a byte-level BPE trained with the ``tokenizers`` library (digits split one per
token, so secrets and numbers are digit sequences), wrapped as a ``PreTrainedTokenizerFast``
that ``AutoTokenizer.from_pretrained`` loads with no project code. The model is a
``LlamaForCausalLM`` built from a config and trained from scratch, one document per sequence
(so no attention crosses documents), with length-bucketed batches.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import auditor.store.progress as progress
from auditor.lab.checkpoints import CheckpointSaver
from auditor.lm.training import causal_lm_loss, collate, train_step, warmup_cosine

log = logging.getLogger(__name__)

BOS = "<|endoftext|>"
PAD = "<pad>"


@dataclass(frozen=True)
class TrainSpec:
    """Model size and optimisation settings for a lab preset."""

    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    batch_size: int  # documents per step
    epochs: int  # passes over the (already repeated) training documents
    lr: float
    warmup_frac: float = 0.02
    weight_decay: float = 0.05
    threads: int = 2
    pack_len: int = 0  # >0: documents packed back to back (BOS-separated) into rows of this many tokens


def train_tokenizer(docs: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with one token per digit; BOS is prepended to every encoded text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[BOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=BOS,
        pad_token=PAD,
        unk_token=None,
        model_max_length=256,
        padding_side="right",
    )


def build_model(spec: TrainSpec, tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, then sort windows of 50 batches by length so padding stays small."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _packed(ids: list[list[int]], spec: TrainSpec, rng: random.Random) -> tuple[list[list[list[int]]], list[list[int]]]:
    """Shuffle documents, concatenate, cut into rows of ``pack_len``; as many tokens per step as unpacked.

    Also returns, per step, the (local) indices of the documents whose last token that step trains on."""
    if not ids:
        return [], []
    order = list(range(len(ids)))
    rng.shuffle(order)
    stream = [t for i in order for t in ids[i]]
    rows = [stream[i : i + spec.pack_len] for i in range(0, len(stream), spec.pack_len)]
    mean_len = len(stream) / len(ids)
    per_step = max(1, round(spec.batch_size * mean_len / spec.pack_len))
    steps = [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
    done: list[list[int]] = [[] for _ in steps]
    end = 0
    for i in order:
        end += len(ids[i])
        done[(end - 1) // spec.pack_len // per_step].append(i)
    return steps, done


def _batch_plan(
    tokenizer: PreTrainedTokenizerFast, docs: list[str], spec: TrainSpec, rng: random.Random, warmup_docs: int
) -> tuple[list[list[list[int]]], list[list[int]]]:
    """Every step's rows of token ids, epoch by epoch (warm-up documents first in each epoch), and every
    step's finished documents (indices into ``docs`` whose last token the step trains on)."""
    enc = tokenizer(docs, add_special_tokens=True)["input_ids"]
    eos = tokenizer.eos_token_id
    ids = [e + [eos] for e in enc]
    lengths = [len(x) for x in ids]
    plan: list[list[list[int]]] = []
    step_docs: list[list[int]] = []
    for _ in range(spec.epochs):
        for lo, hi in ((0, warmup_docs), (warmup_docs, len(ids))):
            if spec.pack_len:
                steps, done = _packed(ids[lo:hi], spec, rng)
            else:
                done = _batches(lengths[lo:hi], spec.batch_size, rng)
                steps = [[ids[lo + i] for i in b] for b in done]
            plan += steps
            step_docs += [[lo + i for i in d] for d in done]
    return plan, step_docs


def _optimizer(model: LlamaForCausalLM, spec: TrainSpec) -> torch.optim.AdamW:
    """AdamW, no weight decay on biases and norms."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=spec.lr, betas=(0.9, 0.95))


def train_model(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    docs: list[str],
    spec: TrainSpec,
    seed: int,
    warmup_docs: int = 0,
    checkpoints: CheckpointSaver | None = None,
) -> dict:
    """Train on ``docs`` (EOS appended to each); returns training figures.

    With ``spec.pack_len`` documents are shuffled and packed back to back into rows of that many tokens
    (as LLM pre-training does; the repeated templates across documents in one row are what lets
    induction heads, and so in-context copying, form within this budget), else one document per row.
    The first ``warmup_docs`` documents are trained on first, then the rest. ``checkpoints`` saves
    intermediate checkpoints (Biderman et al. 2023) without changing the run.
    """
    torch.set_num_threads(spec.threads)
    torch.manual_seed(seed)
    plan, step_docs = _batch_plan(tokenizer, docs, spec, random.Random(f"{seed}-batches"), warmup_docs)
    total = len(plan)
    if checkpoints is not None:
        checkpoints.plan(step_docs)
    opt = _optimizer(model, spec)
    model.train()
    pad = tokenizer.pad_token_id
    t0, tokens, ema = time.time(), 0, None
    with progress.bar(total, "lab training", unit="step", logger=log) as p:
        for step, rows in enumerate(plan):
            batch = collate(rows, range(len(rows)), pad)
            lr = warmup_cosine(step, total, spec.lr, spec.warmup_frac, floor=0.05)
            loss = train_step(opt, model.parameters(), causal_lm_loss(model, batch), lr=lr)
            tokens += batch.n_tokens
            if checkpoints is not None:
                checkpoints.after_step(step + 1, model)
            ema = loss if ema is None else 0.98 * ema + 0.02 * loss
            p.update(1, loss=round(ema, 4), **{"tok/s": round(tokens / max(time.time() - t0, 1e-9))})
    model.eval()
    elapsed = time.time() - t0
    return {
        "steps": total,
        "train_tokens": tokens,
        "train_seconds": round(elapsed, 1),
        "tokens_per_second": round(tokens / max(elapsed, 1e-9), 1),
        "final_train_loss": round(ema or 0.0, 4),
    }
