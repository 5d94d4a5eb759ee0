"""Batched teacher-forced scoring equals unbatched computation and model.generate."""

from __future__ import annotations

import pytest
import torch

from auditor.lm.scoring import greedy_answer_match, mean_nll
from auditor.models.load import load_model


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


@pytest.mark.slow
def test_greedy_match_agrees_with_generate(micro_lab):
    from auditor.lab.build import load_lab_files

    trained = load_model(str(micro_lab / "model"))
    tok, model = trained.tokenizer, trained.model
    files = load_lab_files(micro_lab)
    prompts = [x["prompt"] for x in files["facts"][:8] + files["open_book"][:8] + files["canaries"][:0]]
    prompts += [c["prefix"] for c in files["canaries"][:8]]
    answers, checked = [], []
    for p in prompts:
        ids = tok(p, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
        gen = out[0, ids["input_ids"].shape[1] :].tolist()
        answers.append(tok.decode(gen))
        checked.append(tok(answers[-1], add_special_tokens=False)["input_ids"] == gen)
    assert sum(checked) >= len(prompts) // 2  # decoded text re-encodes to the same tokens (24 of 24, seeds 0-2)
    got = greedy_answer_match(model, tok, prompts, answers, batch_size=5)
    assert [g for g, c in zip(got, checked, strict=True) if c] == [True] * sum(checked)
    wrong = [a + " Zq" for a in answers]
    assert not any(greedy_answer_match(model, tok, prompts, wrong))
