"""Seeded top-k / top-p sampling whose draws do not depend on how prompts are batched.

Each prompt ``i`` gets its own ``torch.Generator`` seeded by ``(seed, i)``; at every step the sampler
draws one Gumbel vector per row from that row's generator and takes argmax(logits / T + Gumbel) over
the tokens that top-k and top-p leave (the Gumbel-max trick: an exact draw from the softmax of the
kept logits). So sample ``i`` is the same whatever the batch size, the batch it lands in, or whether
its unit is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Logits with everything outside the top-k and outside the top-p nucleus set to -inf."""
    out = logits
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[:, -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, idx = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p  # the most likely token is always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, idx, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


@dataclass
class Sampler:
    """A ``decoding.Chooser``: prompt ``offset + row`` draws from the stream seeded by (seed, offset + row)."""

    top_k: int | None = 40
    top_p: float | None = None
    temperature: float = 1.0
    seed: int = 0
    offset: int = 0  # global index of prompt 0 (units of a run start at different offsets)
    indices: tuple[int, ...] | None = None  # global index of each prompt (a data-parallel shard); overrides offset
    _gens: dict[int, torch.Generator] = field(default_factory=dict, repr=False)

    def _gen(self, index: int, device: torch.device) -> torch.Generator:
        g = self._gens.get(index)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed((self.seed * 1_000_003 + index) % (2**63))
            self._gens[index] = g
        return g

    def index(self, row: int) -> int:
        return self.indices[row] if self.indices is not None else self.offset + row

    def __call__(self, logits: torch.Tensor, step: int, rows: list[int]) -> torch.Tensor:
        z = filter_logits(logits / self.temperature, self.top_k, self.top_p)
        v = z.shape[-1]
        u = torch.stack([torch.rand(v, generator=self._gen(self.index(r), z.device), device=z.device) for r in rows])
        gumbel = -torch.log(-torch.log(u.clamp(1e-20, 1.0 - 1e-7)))
        return (z + gumbel).argmax(-1)
