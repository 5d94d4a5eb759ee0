"""Batched decoding with a KV cache and left padding: greedy (discoverable extraction) and sampled (untargeted).

Prompts (token-id lists, special tokens included) are sorted by length, batched, LEFT-padded, and run
through the model once; then one token per step is fed with the cache. ``position_ids`` come from the
attention mask's cumulative sum, so a padded prompt sees the same positions as it would alone.

Greedy decoding here gives the same token ids as ``model.generate(do_sample=False, eos_token_id=None,
max_new_tokens=m)`` run on each prompt alone (tested on a tiny model and the micro lab). We always emit
exactly ``max_new_tokens`` tokens: an EOS token is an ordinary token that neither stops decoding nor is
suppressed (``min_new_tokens`` would suppress it and so change the argmax; stopping would leave fewer
than ``m`` tokens to compare with the target suffix).

Batching follows ``auditor.lm.batching``: ``batch_size=None`` (auto) starts at 32 on the CPU and 128 on
an accelerator; any batch size is halved on out-of-memory (a user-set one with a warning, never exceeded).
Inputs go to the device of the input embeddings, so ``device_map="auto"`` models work. Only the last
position's logits are computed where the model supports ``logits_to_keep``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from auditor.errors import ConfigError, InputError
from auditor.lm.batching import accepts, input_device, left_pad, position_ids, resolve_batch_size, run_batches

__all__ = ["Chooser", "Decoded", "accepts", "decode", "generate_one_by_one", "greedy", "input_device", "left_pad"]

# choose(logits (B, V) float32, step, rows: the batch rows' indices into the prompt list) -> next ids (B,)
Chooser = Callable[[torch.Tensor, int, list[int]], torch.Tensor]


@dataclass
class Decoded:
    """Per prompt, in input order: the new tokens, and (if asked) each one's log-prob under the model."""

    tokens: list[list[int]]
    logprobs: list[list[float]] | None = None


def greedy(logits: torch.Tensor, step: int, rows: list[int]) -> torch.Tensor:
    """Argmax, first index on ties (as ``generate`` does)."""
    return logits.argmax(-1)


@torch.no_grad()
def _decode_batch(
    model: PreTrainedModel,
    seqs: list[Sequence[int]],
    rows: list[int],
    steps: int,
    pad_id: int,
    choose: Chooser,
    want_logprobs: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, steps) new tokens and optionally their log-probs, for one left-padded batch."""
    device = input_device(model)
    ids, mask = left_pad(seqs, pad_id, device)
    pos = position_ids(mask)
    extra = {"logits_to_keep": 1} if accepts(model, "logits_to_keep") else {}
    use_pos = accepts(model, "position_ids")
    out = model(
        input_ids=ids, attention_mask=mask, use_cache=True, **({"position_ids": pos} if use_pos else {}), **extra
    )
    cache = out.past_key_values
    logits = out.logits[:, -1].float()
    next_pos = pos[:, -1:] + 1
    toks: list[torch.Tensor] = []
    lps: list[torch.Tensor] = []
    for t in range(steps):
        tok = choose(logits, t, rows).to(logits.device)  # logits may sit on the last shard of a device_map
        toks.append(tok)
        if want_logprobs:
            lps.append(torch.log_softmax(logits, -1).gather(1, tok[:, None]).squeeze(1))
        if t == steps - 1:
            break
        tok = tok.to(device)
        mask = torch.cat([mask, mask.new_ones((len(seqs), 1))], dim=1)
        kw = {"position_ids": next_pos} if use_pos else {}
        out = model(input_ids=tok[:, None], attention_mask=mask, past_key_values=cache, use_cache=True, **kw)
        cache = out.past_key_values
        logits = out.logits[:, -1].float()
        next_pos = next_pos + 1
    return torch.stack(toks, 1).cpu(), (torch.stack(lps, 1).cpu() if want_logprobs else None)


def decode(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    pad_id: int,
    batch_size: int | None = None,
    choose: Chooser = greedy,
    want_logprobs: bool = False,
    sort_by_length: bool = True,
) -> Decoded:
    """Decode ``max_new_tokens`` tokens after each prompt (greedy by default), batched with a KV cache.

    ``choose`` picks the next tokens from float32 logits; it is told which prompts the batch rows are,
    so a sampler can draw each prompt's randomness from its own seeded stream (``untargeted.Sampler``).
    """
    if max_new_tokens < 1:
        raise ConfigError(f"the number of tokens to decode must be at least 1, got {max_new_tokens}")
    if any(len(p) == 0 for p in prompts):
        raise InputError("an empty prompt cannot be decoded from; give at least one token (e.g. BOS)")
    if pad_id is None:
        raise ConfigError("the tokenizer has no pad token; load the model with auditor.models.load.load_model")
    n = len(prompts)
    order = sorted(range(n), key=lambda i: -len(prompts[i])) if sort_by_length else list(range(n))
    tokens: list[list[int] | None] = [None] * n
    logprobs: list[list[float] | None] = [None] * n

    def step(batch: list[int]) -> None:
        toks, lps = _decode_batch(
            model, [prompts[i] for i in batch], batch, max_new_tokens, pad_id, choose, want_logprobs
        )
        for r, i in enumerate(batch):
            tokens[i] = toks[r].tolist()
            if lps is not None:
                logprobs[i] = lps[r].tolist()

    run_batches(order, step, resolve_batch_size(batch_size, model, "decoding"), what="decoding")
    return Decoded(tokens=tokens, logprobs=logprobs if want_logprobs else None)  # type: ignore[arg-type]


@torch.no_grad()
def generate_one_by_one(
    model: PreTrainedModel, prompts: Sequence[Sequence[int]], max_new_tokens: int
) -> list[list[int]]:
    """The reference: ``model.generate`` greedy, one prompt at a time, exactly ``max_new_tokens`` tokens."""
    device = input_device(model)
    out = []
    for p in prompts:
        x = torch.tensor([list(p)], device=device)
        y = model.generate(
            x,
            attention_mask=torch.ones_like(x),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            eos_token_id=None,
            pad_token_id=model.config.pad_token_id,
        )
        out.append(y[0, x.shape[1] :].tolist())
    return out
