"""Per-token statistics from ONE batched forward pass per text: the input of every MIA attack.

For each text and each predicted position ``t`` (token ``t+1`` given tokens ``<= t``):

* ``logprob[t]``: log p(x_{t+1} | x_{<=t}) of the actual next token;
* ``mu[t]``: E_{z ~ p(.|x_{<=t})}[log p(z | x_{<=t})], the expected log-prob under the model's own
  next-token distribution (minus its entropy);
* ``sigma2[t]``: Var_{z ~ p}[log p(z | x_{<=t})].

``mu`` and ``sigma2`` are what Min-K%++ (Zhang et al. 2024, arXiv:2404.02936) normalises by. They are
computed on the model's device in float32, in chunks of positions, so no (sequence x vocabulary)
float32 tensor is ever materialised for a whole batch, and nothing vocabulary-sized reaches the CPU.
Texts are length-sorted into batches and padded; padding is masked out, and the padding side does
not change any statistic (tested).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError

log = logging.getLogger(__name__)


@dataclass
class TokenStats:
    """Per-text arrays (float64 on the CPU) plus counts. Index ``i`` is the ``i``-th input text."""

    logprob: list[np.ndarray]
    mu: list[np.ndarray]
    sigma2: list[np.ndarray]
    zlib_bytes: list[int]
    truncated: int  # texts cut to max_tokens

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


def _chunk_stats(
    logits_at: Callable[[int, int], torch.Tensor], targets: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, ...]:
    """(logprob, mu, sigma2) for ``targets`` (N,), where ``logits_at(a, b)`` gives the (b-a, V) logits of rows a..b-1.

    Rows are processed ``chunk`` at a time. With z the logits shifted by their row max (z <= 0),
    e = exp(z) and S = sum e: log p(x) = z_x - log S, mu = E_p[z] - log S and
    sigma2 = E_p[z^2] - E_p[z]^2 (a shift leaves the variance unchanged; the max shift keeps the
    float32 cancellation small). Everything after the logits is in place in one reused buffer, so
    per chunk only the logits and that buffer are vocabulary-sized.
    """
    n = targets.shape[0]
    out = [torch.empty(n, device=targets.device) for _ in range(3)]
    buf: torch.Tensor | None = None
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        z = logits_at(a, b).float()
        z = z - z.amax(-1, keepdim=True)
        if buf is None or buf.shape != z.shape:
            buf = torch.empty_like(z)
        e = torch.exp(z, out=buf)
        total = e.sum(-1)
        log_total = total.log()
        out[0][a:b] = z.gather(1, targets[a:b, None]).squeeze(1) - log_total
        m1 = e.mul_(z).sum(-1) / total
        m2 = e.mul_(z).sum(-1) / total
        out[1][a:b] = m1 - log_total
        out[2][a:b] = (m2 - m1.square()).clamp_min(0.0)
        del z
    return tuple(out)


@torch.no_grad()
def chunked_head(model: PreTrainedModel, probe: torch.Tensor) -> tuple[nn.Module, nn.Module] | None:
    """(base model, LM head) if running the head on the base model's hidden states in chunks gives the
    model's own logits (checked on ``probe``, a (1, T) id tensor), else None.

    This avoids the (batch x length x vocabulary) logits tensor: only (batch x chunk x vocabulary) is
    ever alive. Models that post-process logits (soft-capping, scaling) fail the check and fall back
    to their full logits.
    """
    base, head = getattr(model, "base_model", None), model.get_output_embeddings()
    if base is None or base is model or head is None:
        return None
    try:
        full = model(input_ids=probe).logits.float()
        mine = head(base(input_ids=probe)[0]).float()
    except (TypeError, ValueError, AttributeError):
        return None
    tol = 1e-3 * max(1.0, float(full.abs().max()))
    return (base, head) if full.shape == mine.shape and bool(torch.allclose(full, mine, atol=tol)) else None


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_tokens: int | None
) -> tuple[list[list[int]], int]:
    """Token ids per text (with the tokenizer's special tokens), cut to ``max_tokens``."""
    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    truncated = 0
    if max_tokens is not None:
        if max_tokens < 2:
            raise ConfigError(
                f"--max-tokens must be at least 2 (one token to condition on, one to score), got {max_tokens}"
            )
        for i, x in enumerate(ids):
            if len(x) > max_tokens:
                ids[i] = x[:max_tokens]
                truncated += 1
    return ids, truncated


@torch.no_grad()
def compute_token_stats(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    batch_size: int | None = None,
    max_tokens: int | None = None,
    chunk: int = 128,
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
    ids, truncated = encode(tokenizer, texts, limit)
    if truncated:
        log.warning("%d of %d texts were longer than %d tokens and were truncated", truncated, len(ids), limit)
    bos = tokenizer.bos_token_id
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
    short = [i for i, s in enumerate(seqs) if len(s) - skip[i] < (2 if not skip[i] else 1)]
    if short:
        raise InputError(f"{len(short)} texts have fewer than 2 tokens (first: index {short[0]}); remove empty texts")
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ConfigError(
            "the tokenizer has no pad token; load the model with auditor.models.load_model, which sets one"
        )
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = 64 if device.type == "cuda" else 16
    n = len(seqs)
    res: list[list[np.ndarray | None]] = [[None] * n for _ in range(3)]
    path = chunked_head(model, torch.tensor([seqs[0][:8]], device=device)) if use_chunked_head else None
    order = sorted(range(n), key=lambda i: len(seqs[i]), reverse=True)
    start = 0
    while start < n:
        batch = order[start : start + batch_size]
        width = max(len(seqs[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        offs = []
        for r, i in enumerate(batch):
            L = len(seqs[i])
            o = width - L if padding_side == "left" else 0
            input_ids[r, o : o + L] = torch.tensor(seqs[i])
            mask[r, o : o + L] = 1
            offs.append(o)
        input_ids, mask = input_ids.to(device), mask.to(device)
        kwargs = {"input_ids": input_ids, "attention_mask": mask}
        if padding_side == "left":
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp_min(0)
        try:
            targets = input_ids[:, 1:].reshape(-1)
            if path is not None:
                hidden = path[0](**kwargs)[0][:, :-1]
                hidden = hidden.reshape(-1, hidden.shape[-1])
                stats = _chunk_stats(lambda a, b, h=hidden: path[1](h[a:b]), targets, chunk)
            else:
                logits = model(**kwargs).logits
                flat = logits.reshape(-1, logits.shape[-1])  # a view: no copy of the full logits
                w = input_ids.shape[1]
                rows = torch.arange(len(batch), device=device)[:, None] * w + torch.arange(w - 1, device=device)
                rows = rows.reshape(-1)
                stats = _chunk_stats(lambda a, b, f=flat, r=rows: f.index_select(0, r[a:b]), targets, chunk)
            lp, mu, s2 = (x.view(input_ids.shape[0], -1) for x in stats)
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            log.warning("out of GPU memory; retrying with batch size %d", batch_size)
            torch.cuda.empty_cache()
            continue
        hidden = logits = None
        start += len(batch)
        lp, mu, s2 = lp.double().cpu().numpy(), mu.double().cpu().numpy(), s2.double().cpu().numpy()
        for r, i in enumerate(batch):
            L, o = len(seqs[i]), offs[r]
            a, b = o + max(skip[i], 1) - 1, o + L - 1  # scored positions: predict tokens skip..L-1
            res[0][i], res[1][i], res[2][i] = lp[r, a:b], mu[r, a:b], s2[r, a:b]
    zl = [len(zlib.compress(t.encode("utf-8"))) for t in texts]
    return TokenStats(logprob=res[0], mu=res[1], sigma2=res[2], zlib_bytes=zl, truncated=truncated)  # type: ignore[arg-type]
