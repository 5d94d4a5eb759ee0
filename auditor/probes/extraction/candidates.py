"""Log-likelihood of many candidate continuations of one prefix, sharing work between candidates.

log p(c | prefix) = sum over c's tokens of the model's log-prob. Candidates that share all tokens but
their last (e.g. " 3720" ... " 3729" when digits are single tokens) need ONE forward pass between them:
the pass over ``prefix + c[:-1]`` gives every log-prob of the shared part, and its last position's
distribution gives the last token of each. So 10^4 four-digit secrets cost 10^3 sequences, not 10^4.
The prefix itself runs once: its KV cache is copied along the batch and only the candidates' own
tokens are fed (parents are batched by length, so no padding). Without an expandable cache, sequences
``prefix + c[:-1]`` are left-padded (positions from the mask) and only the last ``len(c[:-1]) + 1``
positions' logits are computed where the model supports ``logits_to_keep``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel

from auditor.errors import InputError
from auditor.lm.batching import accepts, input_device, left_pad, position_ids, resolve_batch_size, run_batches

log = logging.getLogger(__name__)


@torch.no_grad()
def _parent_pass(
    model: PreTrainedModel, prefix: Sequence[int], parents: list[tuple[int, ...]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each parent p: (log p(p | prefix), the log-prob row (V,) of the token after prefix + p)."""
    device = input_device(model)
    seqs = [list(prefix) + list(p) for p in parents]
    ids, mask = left_pad(seqs, pad_id, device)
    keep = max(len(p) for p in parents) + 1
    kw: dict = {"attention_mask": mask}
    if accepts(model, "position_ids"):
        kw["position_ids"] = position_ids(mask)
    if accepts(model, "logits_to_keep"):
        kw["logits_to_keep"] = keep
    logits = model(input_ids=ids, **kw).logits[:, -keep:].float()
    logp = torch.log_softmax(logits, dim=-1)
    tgt = torch.zeros((len(parents), keep - 1), dtype=torch.long)
    valid = torch.zeros((len(parents), keep - 1), dtype=torch.bool)
    for r, p in enumerate(parents):
        if p:
            tgt[r, keep - 1 - len(p) :] = torch.as_tensor(p)
            valid[r, keep - 1 - len(p) :] = True
    tgt, valid = tgt.to(logp.device), valid.to(logp.device)  # the output device of a device_map model
    part = logp[:, :-1].gather(-1, tgt[..., None]).squeeze(-1) if keep > 1 else logp[:, :0, 0]
    return (part * valid).sum(-1), logp[:, -1]


@torch.no_grad()
def _prefix_state(model: PreTrainedModel, prefix: Sequence[int]) -> tuple[object, torch.Tensor]:
    """The prefix's KV cache and the log-probs (V,) of the token after it."""
    device = input_device(model)
    out = model(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True)
    if out.past_key_values is None or not hasattr(out.past_key_values, "batch_repeat_interleave"):
        raise TypeError("the model returns no batch-expandable KV cache")
    return out.past_key_values, torch.log_softmax(out.logits[0, -1].float(), dim=-1)


@torch.no_grad()
def _cached_pass(
    model: PreTrainedModel, state: tuple[object, torch.Tensor], n_prefix: int, parents: list[tuple[int, ...]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``_parent_pass`` for parents of ONE length >= 1, feeding only the parents' tokens after the prefix's cache."""
    cache, first = state
    device = input_device(model)
    b, n = len(parents), len(parents[0])
    cache = copy.deepcopy(cache)
    cache.batch_repeat_interleave(b)  # type: ignore[attr-defined]
    ids = torch.tensor(parents, device=device)
    kw: dict = {"attention_mask": torch.ones((b, n_prefix + n), dtype=torch.long, device=device)}
    if accepts(model, "position_ids"):
        kw["position_ids"] = torch.arange(n_prefix, n_prefix + n, device=device).expand(b, n)
    logits = model(input_ids=ids, past_key_values=cache, use_cache=True, **kw).logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    ids = ids.to(logp.device)
    pll = first.to(logp.device)[ids[:, 0]] + logp[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1).sum(-1)
    return pll, logp[:, -1]


def _parents(candidates: Sequence[Sequence[int]]) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
    """(distinct parents ``c[:-1]`` sorted by length, each candidate's parent index, each one's last token).

    Parents are numbered in length order so that equal lengths are contiguous: a cached batch needs one length.
    """
    parents: dict[tuple[int, ...], int] = {}
    pidx = np.empty(len(candidates), dtype=np.int64)
    leaf = np.empty(len(candidates), dtype=np.int64)
    for i, c in enumerate(candidates):
        pidx[i] = parents.setdefault(tuple(c[:-1]), len(parents))
        leaf[i] = c[-1]
    by_len = sorted(parents, key=len)
    renum = np.empty(len(by_len), dtype=np.int64)
    for new, p in enumerate(by_len):
        renum[parents[p]] = new
    return by_len, renum[pidx], leaf


def candidate_logliks(
    model: PreTrainedModel,
    prefix: Sequence[int],
    candidates: Sequence[Sequence[int]],
    pad_id: int,
    batch_size: int | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """log p(candidate | prefix) in nats (float64), one per candidate, in input order.

    With ``use_cache`` (default) the prefix runs once and each batch of same-length parents feeds only
    its own tokens after a copy of the prefix's KV cache; models whose cache cannot be expanded along
    the batch fall back to full sequences (``prefix + parent``, left-padded).
    """
    if not prefix:
        raise InputError("a canary prefix tokenizes to nothing; give a non-empty prefix")
    if any(len(c) == 0 for c in candidates):
        raise InputError("a candidate secret tokenizes to nothing; every candidate needs at least one token")
    by_len, pidx, leaf = _parents(candidates)
    state = None
    if use_cache:
        try:
            state = _prefix_state(model, prefix)
        except (TypeError, AttributeError, NotImplementedError, ValueError) as e:
            log.info("scoring candidates without a prefix cache (%s)", e)
    out = np.empty(len(candidates), dtype=np.float64)
    order = np.argsort(pidx, kind="stable")
    sorted_p = pidx[order]

    def one_length(start: int, stop: int) -> int:  # a cached batch feeds parents of one length
        while state is not None and len(by_len[stop - 1]) != len(by_len[start]):
            stop -= 1
        return stop

    def step(batch: list[int]) -> None:
        start, stop = batch[0], batch[-1] + 1
        parents = by_len[start:stop]
        if state is None:
            pll, last = _parent_pass(model, prefix, parents, pad_id)
        elif not parents[0]:
            pll, last = state[1].new_zeros(1), state[1][None]
        else:
            pll, last = _cached_pass(model, state, len(prefix), parents)
        lo, hi = np.searchsorted(sorted_p, [start, stop])
        sel = order[lo:hi]
        rows = torch.as_tensor(pidx[sel] - start, device=last.device)
        cols = torch.as_tensor(leaf[sel], device=last.device)
        out[sel] = (pll[rows] + last[rows, cols]).double().cpu().numpy()

    bs = resolve_batch_size(batch_size, model, "candidates")
    run_batches(range(len(by_len)), step, bs, what="scoring candidates", fit=one_length)
    return out
