"""Capability generation's newline stop: a lookup of the newest token on the device, equal to decoding
the whole continuation at every step (the former criterion, transcribed here)."""

from __future__ import annotations

import torch

from auditor.capability.evaluate import _NewlineStop, newline_ids


def _decoded_stop(tokenizer, input_ids: torch.Tensor, start: int) -> torch.Tensor:
    texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=False)
    return torch.tensor(["\n" in t for t in texts], dtype=torch.bool)


def test_newline_stop_equals_decoding_the_continuation(tiny_tokenizer):
    nl = newline_ids(tiny_tokenizer)
    assert len(nl) >= 1 and all("\n" in tiny_tokenizer.decode([int(i)]) for i in nl)
    gen = torch.Generator().manual_seed(0)
    rows, start, steps = 16, 5, 12
    ids = torch.randint(0, len(tiny_tokenizer), (rows, start), generator=gen)
    stop = _NewlineStop(tiny_tokenizer, start)
    for _ in range(steps):
        nxt = torch.randint(0, len(tiny_tokenizer), (rows, 1), generator=gen)
        put_nl = torch.rand(rows, 1, generator=gen) < 0.1
        nxt = torch.where(put_nl, nl[torch.randint(0, len(nl), (rows, 1), generator=gen)], nxt)
        ids = torch.cat([ids, nxt], dim=1)
        assert torch.equal(stop(ids, None), _decoded_stop(tiny_tokenizer, ids, start))
    assert stop.seen.any() and not stop.seen.all()
