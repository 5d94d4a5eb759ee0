"""LM-EL2N (Paul et al. 2021, applied per next token) from the chunked head against full-softmax arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from auditor.lm import heads
from auditor.lm.scoring import mean_el2n
from auditor.models.load import ModelSpec, load_model


def test_chunk_el2n_matches_the_definition() -> None:
    torch.manual_seed(0)
    logits = torch.randn(10, 7) * 4
    targets = torch.randint(0, 7, (10,))
    logprob, got = heads.chunk_el2n(lambda a, b: logits[a:b].clone(), targets, chunk=3)
    p = logits.softmax(-1)
    want = (p - torch.nn.functional.one_hot(targets, 7).float()).norm(dim=-1)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(logprob, logits.log_softmax(-1).gather(1, targets[:, None]).squeeze(1), atol=1e-5)
    # a certain correct prediction scores 0, a certain wrong one sqrt(2)
    sure = torch.tensor([[50.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    _, ends = heads.chunk_el2n(lambda a, b: sure[a:b].clone(), torch.tensor([0, 1]))
    assert ends[0].item() == pytest.approx(0.0, abs=1e-6)
    assert ends[1].item() == pytest.approx(math.sqrt(2), abs=1e-6)


def test_mean_el2n_per_text_equals_full_logits(tiny_model_dir) -> None:
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu"))
    texts = ["The colour of item 3 is 8.", "Q: What is it? A: yes. The size of item 12 is 6."]
    got = mean_el2n(lm.model, lm.tokenizer, texts, batch_size=2)
    for text, g in zip(texts, got, strict=True):
        ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            p = lm.model(input_ids=ids).logits[0, :-1].float().softmax(-1)
        onehot = torch.nn.functional.one_hot(ids[0, 1:], p.shape[-1]).float()
        assert g == pytest.approx(float((p - onehot).norm(dim=-1).mean()), abs=1e-5)
