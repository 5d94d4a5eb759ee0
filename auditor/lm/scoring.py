"""Batched, teacher-forced scoring: per-text log-probs and negative log-likelihood, continuation
log-likelihoods, and greedy-answer checks.

All run through :func:`auditor.lm.forward.teacher_forced`: one forward pass per length-sorted batch
(right padding, attention mask, inputs on the input-embedding device, ``batch_size=None`` = auto and
halved on out-of-memory), and the LM head applied to the scored positions only, in chunks, so no
(batch x length x vocabulary) tensor is built.

``greedy_answer_match`` is exact for greedy decoding: greedy decoding from ``prompt`` emits the
answer's tokens iff, with the answer teacher-forced, the argmax at every answer position is the
answer's token. So one pass replaces ``len(answer)`` decoding steps, and only the answer positions'
argmax is computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.lm.forward import teacher_forced


def token_logprobs(
    model: PreTrainedModel, seqs: list[list[int]], pad_id: int, batch_size: int | None = None
) -> list[torch.Tensor]:
    """Log-prob of each token given the tokens before it (float32, CPU), for each sequence.

    Element ``i`` has ``len(seqs[i]) - 1`` entries: token ``t+1`` scored at position ``t``.
    """
    if any(len(s) < 2 for s in seqs):
        raise InputError("every text needs at least 2 tokens to be scored; drop empty texts")
    return [r[0] for r in teacher_forced(model, seqs, pad_id=pad_id, batch_size=batch_size)]


def continuation_logprobs(
    model: PreTrainedModel, seqs: list[list[int]], spans: Sequence[int], pad_id: int, batch_size: int | None = None
) -> list[float]:
    """Summed log-prob of the last ``spans[i]`` tokens of each sequence, scoring those positions only.

    A span of 0 tokens has log-prob 0 (nothing is run for it).
    """
    if any(k < 0 or k >= len(s) for s, k in zip(seqs, spans, strict=True)):
        raise InputError("a continuation must follow at least one context token")
    out = [0.0] * len(seqs)
    keep = [i for i, k in enumerate(spans) if k > 0]
    first = [len(seqs[i]) - spans[i] for i in keep]
    res = teacher_forced(model, [seqs[i] for i in keep], first, pad_id=pad_id, batch_size=batch_size)
    for i, r in zip(keep, res, strict=True):
        out[i] = float(r[0].double().sum())
    return out


def mean_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int | None = None,
) -> list[float]:
    """Mean per-token negative log-likelihood of each text (the LOSS attack's statistic)."""
    seqs = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    return [float(-lp.mean()) for lp in token_logprobs(model, seqs, tokenizer.pad_token_id, batch_size)]


def mean_el2n(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int | None = None,
) -> list[float]:
    """LM-EL2N of each text: the mean over its predicted tokens of ||p(.|x_<t) - onehot(x_t)||_2, the EL2N
    score of Paul et al. 2021 ("Deep Learning on a Data Diet") applied to next-token prediction. It ranges
    over [0, sqrt(2)]; high = hard. The LM head runs in chunks, as for every token statistic."""
    seqs = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    if any(len(s) < 2 for s in seqs):
        raise InputError("every text needs at least 2 tokens to be scored; drop empty texts")
    res = teacher_forced(model, seqs, pad_id=tokenizer.pad_token_id, reduce="el2n", batch_size=batch_size)
    return [float(r[1].double().mean()) for r in res]


def greedy_answer_match(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    batch_size: int | None = None,
) -> list[bool]:
    """Whether greedy decoding from each prompt starts with the matching answer (one pass)."""
    if len(prompts) != len(answers):
        raise InputError(f"{len(prompts)} prompts but {len(answers)} answers; give one answer per prompt")
    p_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    a_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    if any(not p for p in p_ids):
        raise InputError("a prompt tokenizes to nothing; give at least one prompt token")
    result = [not a for a in a_ids]  # an empty answer is trivially a prefix of any continuation
    keep = [i for i, a in enumerate(a_ids) if a]
    seqs = [p_ids[i] + a_ids[i] for i in keep]
    first = [len(p_ids[i]) for i in keep]
    pred = teacher_forced(model, seqs, first, pad_id=tokenizer.pad_token_id, reduce="argmax", batch_size=batch_size)
    for i, (p,) in zip(keep, pred, strict=True):
        result[i] = bool(torch.equal(p, torch.tensor(a_ids[i], dtype=torch.long)))
    return result
