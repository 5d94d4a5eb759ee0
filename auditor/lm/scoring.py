"""Batched, teacher-forced scoring: per-text negative log-likelihood and greedy-answer checks.

Both run one forward pass per batch of texts, with right padding and an attention mask, and
read only the positions they need (the log-softmax is taken over the vocabulary per position
in float32, in chunks of the batch, never for a whole dataset at once).

``greedy_answer_match`` is exact for greedy decoding: greedy decoding from ``prompt`` emits the
answer's tokens iff, with the answer teacher-forced, the argmax at every answer position is the
answer's token. So one pass replaces ``len(answer)`` decoding steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import InputError


def _device(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


def _pad_batch(seqs: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


def _length_sorted(n: int, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(n), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


@torch.no_grad()
def token_logprobs(
    model: PreTrainedModel, seqs: list[list[int]], pad_id: int, batch_size: int = 32
) -> list[torch.Tensor]:
    """Log-prob of each token given the tokens before it (float32, CPU), for each sequence.

    Element ``i`` has ``len(seqs[i]) - 1`` entries: token ``t+1`` scored at position ``t``.
    """
    if any(len(s) < 2 for s in seqs):
        raise InputError("every text needs at least 2 tokens to be scored; drop empty texts")
    device = _device(model)
    out: list[torch.Tensor | None] = [None] * len(seqs)
    for batch in _length_sorted(len(seqs), [len(s) for s in seqs], batch_size):
        ids, mask = _pad_batch([seqs[i] for i in batch], pad_id, device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        for row, i in enumerate(batch):
            out[i] = lp[row, : len(seqs[i]) - 1].cpu()
    return out  # type: ignore[return-value]


def mean_nll(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], batch_size: int = 32
) -> list[float]:
    """Mean per-token negative log-likelihood of each text (the LOSS attack's statistic)."""
    seqs = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    return [float(-lp.mean()) for lp in token_logprobs(model, seqs, tokenizer.pad_token_id, batch_size)]


@torch.no_grad()
def greedy_answer_match(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    batch_size: int = 64,
) -> list[bool]:
    """Whether greedy decoding from each prompt starts with the matching answer (one pass)."""
    if len(prompts) != len(answers):
        raise InputError(f"{len(prompts)} prompts but {len(answers)} answers; give one answer per prompt")
    p_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    a_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    seqs = [p + a for p, a in zip(p_ids, a_ids, strict=True)]
    device = _device(model)
    result = [False] * len(seqs)
    for batch in _length_sorted(len(seqs), [len(s) for s in seqs], batch_size):
        ids, mask = _pad_batch([seqs[i] for i in batch], tokenizer.pad_token_id, device)
        pred = model(input_ids=ids, attention_mask=mask).logits.argmax(-1).cpu()
        for row, i in enumerate(batch):
            start, n = len(p_ids[i]), len(a_ids[i])
            result[i] = bool(torch.equal(pred[row, start - 1 : start - 1 + n], torch.tensor(a_ids[i])))
    return result
