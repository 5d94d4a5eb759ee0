"""The LM head applied to selected positions only, in chunks: no (batch x length x vocabulary) tensor.

A teacher-forced statistic needs, at a few positions of each row, a reduction over the vocabulary: the
log-prob of a target token, its argmax, or (for Min-K%++) the mean and variance of the log-probs. So
we run the base model (hidden states, (batch x length x hidden)), pick the hidden states of the
positions we score, and apply the LM head to ``chunk`` of them at a time: only (chunk x vocabulary)
logits are ever alive, on the model's device, in float32.

This equals the model's own logits only when the model applies its head and nothing else. That is
checked once per model on a short probe (:func:`chunked_head`; it is a property of the architecture, so
pruning or training the weights in place does not change it, and the answer is kept while the model
lives); models that post-process their logits
(soft-capping, scaling) fail the check and fall back to their full logits, from which the selected
rows are still reduced in chunks (so only the model's own logits tensor is vocabulary-sized).

With z the logits of a row shifted by their max (z <= 0), e = exp(z) and S = sum e:
log p(x) = z_x - log S, mu = E_p[log p] = E_p[z] - log S and sigma2 = Var_p[log p] = E_p[z^2] - E_p[z]^2
(a shift leaves the variance unchanged; the max shift keeps the float32 cancellation small).
"""

from __future__ import annotations

from collections.abc import Callable
from weakref import WeakKeyDictionary

import torch
from torch import nn

# logits_at(a, b) -> the (b - a, vocabulary) logits of selected rows a..b-1
LogitsAt = Callable[[int, int], torch.Tensor]
Path = tuple[nn.Module, nn.Module] | None
# rows of logits alive at once: a chunk holds two (rows x vocabulary) float32 tensors (the logits and one
# buffer), at most CHUNK_ELEMENTS each: 64 x 49k x 4 B x 2 = 25 MB for SmolLM2, small against a full
# (batch x length x vocabulary) tensor. A smaller vocabulary gets more rows per chunk (2048 -> 1536 rows), so a
# small model's reductions are not a thousand tiny kernel launches.
CHUNK = 64
CHUNK_ELEMENTS = CHUNK * 49152


def rows_per_chunk(vocab_size: int | None) -> int:
    """Rows of logits per chunk for a vocabulary: ``CHUNK_ELEMENTS`` logits, and at least ``CHUNK`` rows."""
    return max(CHUNK, CHUNK_ELEMENTS // vocab_size) if vocab_size else CHUNK


_CHECKED: WeakKeyDictionary[nn.Module, Path] = WeakKeyDictionary()  # model -> its checked path


def chunked_head(model: nn.Module, probe: torch.Tensor) -> tuple[nn.Module, nn.Module] | None:
    """(base model, LM head) if the head on the base model's hidden states gives the model's own logits
    (checked on ``probe``, a (1, T) id tensor on the input device, the first time a model is seen), else None."""
    if model not in _CHECKED:
        _CHECKED[model] = _check_head(model, probe)
    return _CHECKED[model]


@torch.no_grad()
def _check_head(model: nn.Module, probe: torch.Tensor) -> Path:
    base = getattr(model, "base_model", None)
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    if base is None or base is model or head is None:
        return None
    try:
        full = model(input_ids=probe).logits.float()
        mine = head(base(input_ids=probe)[0]).float()
    except (TypeError, ValueError, AttributeError):
        return None
    tol = 1e-3 * max(1.0, float(full.abs().max()))
    return (base, head) if full.shape == mine.shape and bool(torch.allclose(full, mine, atol=tol)) else None


def selected_logits(model: nn.Module, path: Path, inputs: dict, rows: torch.Tensor) -> tuple[LogitsAt, torch.device]:
    """A chunk reader of the logits at flat positions ``rows`` (indices into batch x length) of one batch,
    and the device those logits are on (the last shard of a ``device_map`` model)."""
    if path is not None:
        base, head = path
        hidden = base(**inputs)[0]
        sel = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows.to(hidden.device))
        return (lambda a, b: head(sel[a:b])), sel.device
    logits = model(**inputs).logits
    flat = logits.reshape(-1, logits.shape[-1])  # a view of the model's own logits: no copy
    r = rows.to(flat.device)
    return (lambda a, b: flat.index_select(0, r[a:b])), flat.device


def _shifted(logits_at: LogitsAt, a: int, b: int) -> torch.Tensor:
    """Float32 logits of rows a..b-1 minus their row max, shifted in place (``logits_at`` returns a fresh tensor)."""
    z = logits_at(a, b).float()
    return z.sub_(z.amax(-1, keepdim=True))


def chunk_logprob(logits_at: LogitsAt, targets: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """log p(target) at each selected row, (N,) float32 on ``targets``' device."""
    n = targets.shape[0]
    out = torch.empty(n, device=targets.device)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        z = _shifted(logits_at, a, b)
        out[a:b] = z.gather(1, targets[a:b, None]).squeeze(1) - torch.logsumexp(z, -1)
    return out


def chunk_argmax(logits_at: LogitsAt, n: int, device: torch.device, chunk: int = CHUNK) -> torch.Tensor:
    """The argmax token (first on ties) at each of ``n`` selected rows, (N,) long on ``device``."""
    out = torch.empty(n, dtype=torch.long, device=device)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        out[a:b] = logits_at(a, b).argmax(-1)
    return out


def chunk_stats(logits_at: LogitsAt, targets: torch.Tensor, chunk: int = CHUNK) -> tuple[torch.Tensor, ...]:
    """(logprob, mu, sigma2) at each selected row, each (N,) float32 on ``targets``' device.

    After the logits, everything is in place in one reused buffer, so per chunk only the logits and
    that buffer are vocabulary-sized.
    """
    n = targets.shape[0]
    out = [torch.empty(n, device=targets.device) for _ in range(3)]
    buf: torch.Tensor | None = None
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        z = _shifted(logits_at, a, b)
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


def chunk_el2n(logits_at: LogitsAt, targets: torch.Tensor, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(target), ||p - onehot(target)||_2) at each selected row, each (N,) float32 on ``targets``' device,
    from one pass over the logits. The second is the EL2N score of Paul et al. 2021 ("Deep Learning on a Data
    Diet", NeurIPS) for one next-token prediction.

    With p = e / S: ||p - 1_y||^2 = sum_v p_v^2 - 2 p_y + 1 = sum e^2 / S^2 - 2 e_y / S + 1."""
    n = targets.shape[0]
    logprob, el2n = torch.empty(n, device=targets.device), torch.empty(n, device=targets.device)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        z = _shifted(logits_at, a, b)
        z_y = z.gather(1, targets[a:b, None]).squeeze(1)
        e = z.exp_()
        total = e.sum(-1)
        logprob[a:b] = z_y - total.log()
        p_y = z_y.exp() / total
        sq = e.square_().sum(-1) / total.square()
        el2n[a:b] = (sq - 2.0 * p_y + 1.0).clamp_min(0.0).sqrt()
    return logprob, el2n
