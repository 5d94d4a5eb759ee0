"""Batched teacher-forced scoring equals unbatched computation and model.generate."""

from __future__ import annotations

import pytest
import torch

from auditor.models import load_model
from auditor.scoring import greedy_answer_match, mean_nll


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


TEXTS = ["The colour of item 3 is 8.", "Q: What is it? A: yes.", "The size of item 12 is 6. The shape", "x"]


def test_batched_nll_equals_one_text_at_a_time(lm):
    batched = mean_nll(lm.model, lm.tokenizer, TEXTS, batch_size=3)
    for text, b in zip(TEXTS, batched, strict=True):
        ids = lm.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = lm.model(ids).logits[0, :-1].double()
        ref = -torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None]).mean().item()
        assert b == pytest.approx(ref, abs=1e-5)


def test_greedy_match_agrees_with_generate(lm):
    tok, model = lm.tokenizer, lm.model
    prompts = ["The colour of item", "Q: What is", "The size of item 12 is"]
    answers = []
    for p in prompts:
        ids = tok(p, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
        answers.append(tok.decode(out[0, ids["input_ids"].shape[1] :]))
    assert all(greedy_answer_match(model, tok, prompts, answers, batch_size=2))
    wrong = [a + "zz" if i == 1 else a for i, a in enumerate(answers)]
    assert greedy_answer_match(model, tok, prompts, wrong) == [True, False, True]
