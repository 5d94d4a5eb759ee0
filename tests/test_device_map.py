"""Models placed by accelerate (``device_map``, offload): token statistics, decoding and capability
generation give the same numbers as the plain model, with an untied LM head on another "device".

This machine has one CPU device, so "another device" is accelerate's offload: the head's (and the input
embeddings') weights live on the meta device and a hook brings them in at forward time. Any code that
places tensors by a weight's device (``next(model.parameters()).device``, ``lm_head.weight.device``)
breaks here as it would on a second GPU.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from auditor.capability.evaluate import greedy_generate
from auditor.errors import ConfigError
from auditor.lm.batching import input_device
from auditor.lm.decoding import decode
from auditor.lm.scoring import greedy_answer_match, mean_nll
from auditor.lm.tokenstats import compute_token_stats
from auditor.pruning import PruneSpec
from auditor.pruning.engine import select_targets

TEXTS = ["The colour of item 3 is 8. Q: What is it? A: yes.", "The size of item 12 is 6.", "Q: What is it?"]


@pytest.fixture(scope="module")
def untied(tiny_tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=False, pad_token_id=tiny_tokenizer.pad_token_id)  # fmt: skip
    return LlamaForCausalLM(cfg).eval().requires_grad_(False)


def _placed(model: LlamaForCausalLM, tmp_path, blocks: str = "cpu") -> LlamaForCausalLM:
    """The embeddings and the untied head offloaded (meta weights + hooks), the blocks on ``blocks``."""
    from accelerate import dispatch_model

    placement = {"model.embed_tokens": "disk", "model.layers": blocks, "model.norm": "cpu",
                 "model.rotary_emb": "cpu", "lm_head": "disk"}  # fmt: skip
    return dispatch_model(copy.deepcopy(model), device_map=placement, offload_dir=str(tmp_path), main_device="cpu")


def test_token_statistics_and_decoding_match_with_the_head_offloaded(untied, tiny_tokenizer, tmp_path):
    placed = _placed(untied, tmp_path)
    assert placed.lm_head.weight.device.type == "meta" and placed.model.embed_tokens.weight.device.type == "meta"
    assert input_device(placed).type == "cpu"  # the hook's execution device, not the meta weight's
    a = compute_token_stats(untied, tiny_tokenizer, TEXTS, batch_size=2)
    b = compute_token_stats(placed, tiny_tokenizer, TEXTS, batch_size=2)
    for x, y in zip(a.logprob + a.mu + a.sigma2, b.logprob + b.mu + b.sigma2, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert mean_nll(untied, tiny_tokenizer, TEXTS) == pytest.approx(mean_nll(placed, tiny_tokenizer, TEXTS), rel=1e-5)
    ids = tiny_tokenizer(TEXTS, add_special_tokens=True)["input_ids"]
    pad = tiny_tokenizer.pad_token_id
    d1 = decode(untied, ids, 6, pad_id=pad, batch_size=2, want_logprobs=True)
    d2 = decode(placed, ids, 6, pad_id=pad, batch_size=2, want_logprobs=True)
    assert d1.tokens == d2.tokens
    answers = [tiny_tokenizer.decode(t) for t in d1.tokens]
    match = greedy_answer_match(untied, tiny_tokenizer, TEXTS, answers)
    assert greedy_answer_match(placed, tiny_tokenizer, TEXTS, answers) == match and any(match)
    assert greedy_generate(untied, tiny_tokenizer, TEXTS, 5, 2) == greedy_generate(placed, tiny_tokenizer, TEXTS, 5, 2)


def test_pruning_an_offloaded_layer_is_a_one_line_error(untied, tmp_path):
    placed = _placed(untied, tmp_path, blocks="disk")
    with pytest.raises(ConfigError, match="offloaded"):
        select_targets(placed, PruneSpec(sparsity=0.5))


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_attn_implementation_reaches_from_pretrained(tiny_model_dir, impl):
    from auditor.models.load import ModelSpec, load_model

    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", attn_implementation=impl))
    assert lm.model.config._attn_implementation == impl


def test_offload_without_a_gpu_is_a_one_line_error(tiny_model_dir, tmp_path, capsys):
    from auditor.cli.main import main

    for name, texts in (("m", TEXTS), ("n", [t.upper() for t in TEXTS])):  # two sets that share no text
        (tmp_path / f"{name}.jsonl").write_text("".join(f'{{"id": "{name}{i}", "text": "{t}"}}\n'
                                                        for i, t in enumerate(texts)))  # fmt: skip
    rc = main(["mia", "--model", str(tiny_model_dir), "--members", str(tmp_path / "m.jsonl"), "--nonmembers",
               str(tmp_path / "n.jsonl"), "--out", str(tmp_path / "run"), "--offload", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--offload" in err and "\n" not in err
