"""Per-token statistics from ONE batched forward pass per text: the input of every MIA attack.

For each text and each predicted position ``t`` (token ``t+1`` given tokens ``<= t``):

* ``logprob[t]``: log p(x_{t+1} | x_{<=t}) of the actual next token;
* ``mu[t]``: E_{z ~ p(.|x_{<=t})}[log p(z | x_{<=t})], the expected log-prob under the model's own
  next-token distribution (minus its entropy);
* ``sigma2[t]``: Var_{z ~ p}[log p(z | x_{<=t})].

``mu`` and ``sigma2`` are what Min-K%++ (Zhang et al. 2024, arXiv:2404.02936) normalises by. They are
computed by :func:`auditor.lm.forward.teacher_forced` (``reduce="stats"``): on the model's device in
float32, the LM head applied to chunks of the scored positions (``auditor.lm.heads``), so no
(batch x length x vocabulary) tensor is ever materialised and nothing vocabulary-sized reaches the CPU.
Texts are batched by ``auditor.lm.batching`` (length-sorted, padded, ``batch_size=None`` = auto,
halved on out-of-memory); padding is masked out, and the padding side does not change any statistic
(tested).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError
from auditor.lm.forward import teacher_forced
from auditor.lm.heads import chunked_head

__all__ = ["TokenStats", "chunked_head", "compute_token_stats", "encode", "model_context"]

log = logging.getLogger(__name__)


@dataclass
class TokenStats:
    """Per-text arrays (float64 on the CPU) plus counts. Index ``i`` is the ``i``-th input text."""

    logprob: list[np.ndarray]
    mu: list[np.ndarray]
    sigma2: list[np.ndarray]
    zlib_bytes: list[int]
    truncated: int  # texts cut to max_tokens
    cut: list[bool] = field(default_factory=list)  # per text: was it cut to max_tokens

    def __len__(self) -> int:
        return len(self.logprob)

    @property
    def n_tokens(self) -> int:
        return int(sum(a.size for a in self.logprob))


def model_context(model: PreTrainedModel) -> int | None:
    cfg = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_tokens: int | None
) -> tuple[list[list[int]], list[bool]]:
    """Token ids per text (with the tokenizer's special tokens), cut to ``max_tokens``; which were cut."""
    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    cut = [False] * len(ids)
    if max_tokens is not None:
        if max_tokens < 2:
            raise ConfigError(
                f"--max-tokens must be at least 2 (one token to condition on, one to score), got {max_tokens}"
            )
        for i, x in enumerate(ids):
            if len(x) > max_tokens:
                ids[i] = x[:max_tokens]
                cut[i] = True
    return ids, cut


def with_prefix(
    ids: list[list[int]], prefix_ids: list[int] | None, bos: int | None
) -> tuple[list[list[int]], list[int]]:
    """Each text's ids with ``prefix_ids`` put after its BOS (if any); per text, how many leading ids to skip."""
    seqs, skip = [], []
    for x in ids:
        if prefix_ids:
            has_bos = bos is not None and x and x[0] == bos
            head = [x[0]] if has_bos else []
            body = x[1:] if has_bos else x
            seqs.append(head + list(prefix_ids) + body)
            skip.append(len(head) + len(prefix_ids))
        else:
            seqs.append(x)
            skip.append(0)
    return seqs, skip


def compute_token_stats(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    batch_size: int | None = None,
    max_tokens: int | None = None,
    chunk: int | None = None,
    padding_side: str = "right",
    prefix_ids: list[int] | None = None,
    use_chunked_head: bool = True,
) -> TokenStats:
    """Statistics for ``texts`` from one forward pass each (batched).

    ``max_tokens`` defaults to the model's context; longer texts are truncated, with a warning and
    a count. ``prefix_ids`` (ReCaLL) are put before each text's tokens (after its BOS if any) and
    only the text's own tokens are scored.
    """
    if not texts:
        raise InputError("no texts to score; give a non-empty data set")
    if padding_side not in ("left", "right"):
        raise ConfigError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    ctx = model_context(model)
    extra = len(prefix_ids or [])
    limit = max_tokens if max_tokens is not None else (ctx - extra if ctx else None)
    if ctx is not None and limit is not None and limit + extra > ctx:
        limit = ctx - extra
    ids, cut = encode(tokenizer, texts, limit)
    truncated = sum(cut)
    if truncated:
        log.warning("%d of %d texts were longer than %d tokens and were truncated", truncated, len(ids), limit)
    seqs, skip = with_prefix(ids, prefix_ids, tokenizer.bos_token_id)
    short = [i for i, s in enumerate(seqs) if len(s) - skip[i] < (2 if not skip[i] else 1)]
    if short:
        raise InputError(f"{len(short)} texts have fewer than 2 tokens (first: index {short[0]}); remove empty texts")
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ConfigError(
            "the tokenizer has no pad token; load the model with auditor.models.load.load_model, which sets one"
        )
    first = [max(k, 1) for k in skip]  # score the text's own tokens: skip .. L-1
    out = teacher_forced(
        model,
        seqs,
        first,
        pad_id=pad,
        reduce="stats",
        batch_size=batch_size,
        padding_side=padding_side,
        chunk=chunk,
        use_chunked_head=use_chunked_head,
    )
    res = [[r[k].double().numpy() for r in out] for k in range(3)]
    zl = [len(zlib.compress(t.encode("utf-8"))) for t in texts]
    return TokenStats(logprob=res[0], mu=res[1], sigma2=res[2], zlib_bytes=zl, truncated=truncated, cut=cut)  # type: ignore[arg-type]
