"""Mask kernels against independent reference computations; nesting; N:M; exact restore; SparseGPT."""

from __future__ import annotations

import pytest
import torch

from auditor.errors import ConfigError
from auditor.pruning.apply import masked, sparsity_report, weight_2d
from auditor.pruning.masks import layer_mask, make_masks, nm_mask, row_mask
from auditor.pruning.methods import PRUNERS, PruneSpec
from auditor.pruning.sparsegpt import sparsegpt_layer
from auditor.pruning.targets import find_targets


def _models():
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    torch.manual_seed(0)
    return {
        "llama": LlamaForCausalLM(
            LlamaConfig(
                vocab_size=64,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
            )
        ),
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
        "neox": GPTNeoXForCausalLM(
            GPTNeoXConfig(
                vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4
            )
        ),
    }


MODELS = _models()


@pytest.mark.parametrize("s", [0.0, 0.1, 0.33, 0.5, 0.9])
def test_layer_and_row_masks_match_a_reference_and_the_requested_sparsity(s):
    torch.manual_seed(1)
    scores = torch.randn(16, 24).abs()
    m = layer_mask(scores, s)
    k = round(s * scores.numel())
    ref_thresh = torch.sort(scores.flatten()).values[k - 1] if k else -1
    assert torch.equal(~m, scores <= ref_thresh) if k else bool(m.all())  # distinct scores: a threshold rule
    assert (~m).sum() == k
    r = row_mask(scores, s)
    kr = round(s * 24)
    assert all(int((~r[i]).sum()) == kr for i in range(16))
    for i in range(16):
        pruned = set(torch.argsort(scores[i])[:kr].tolist())
        assert pruned == set(torch.nonzero(~r[i]).flatten().tolist())


def test_masks_are_nested_across_sparsities():
    scores = torch.randn(8, 40).abs().round(decimals=1)  # with ties
    for kern in (layer_mask, row_mask):
        prev = torch.ones_like(scores, dtype=torch.bool)
        for s in (0.1, 0.3, 0.5, 0.7, 0.9):
            m = kern(scores, s)
            assert not (m & ~prev).any()  # nothing pruned at a lower sparsity is kept at a higher one
            prev = m


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4)])
def test_nm_masks_keep_n_of_every_m(n, m):
    scores = torch.randn(6, 32).abs()
    mask = nm_mask(scores, n, m)
    groups = mask.view(6, -1, m)
    assert bool((groups.sum(-1) == n).all())
    g = scores.view(6, -1, m)
    kept_min = torch.where(groups, g, torch.inf).min(-1).values
    pruned_max = torch.where(~groups, g, -torch.inf).max(-1).values
    assert bool((kept_min >= pruned_max).all())


def test_bad_specs():
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        PruneSpec(sparsity=1.0)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        PruneSpec(sparsity=-0.1)
    with pytest.raises(ConfigError, match="0 < N < M"):
        PruneSpec(sparsity=0.5, structure="4:4")
    with pytest.raises(ConfigError, match="unknown pruning method 'wandaa'.*did you mean 'wanda'"):
        PRUNERS.get("wandaa")


@pytest.mark.parametrize("arch", list(MODELS))
@pytest.mark.parametrize("method", ["magnitude", "wanda", "wanda_nested"])
def test_actual_sparsity_and_bit_exact_restore(arch, method):
    import auditor.pruning.wanda  # noqa: F401  (registers)

    model = MODELS[arch].eval()
    modules = find_targets(model)
    assert modules and not any("lm_head" in n or "embed" in n or n.endswith(("wte", "wpe")) for n in modules)
    before = {n: m.weight.detach().clone() for n, m in modules.items()}
    pruner = PRUNERS.get(method)()
    calib = [list(range(i, i + 16)) for i in range(4)]
    scores = pruner.prepare(modules, model, calib)
    for s in (0.25, 0.5):
        spec = PruneSpec(sparsity=s)
        masks = pruner.masks(scores, spec)
        with masked(modules, masks) as rep:
            for m in modules.values():
                w2 = weight_2d(m)
                group = w2.numel() if pruner.default_granularity == "layer" else w2.shape[1]
                expect = round(s * group) * (w2.numel() // group)
                assert abs(int((w2 == 0).sum()) - expect) <= w2.numel() // group  # within one per group
            assert rep["overall"] == pytest.approx(s, abs=0.02)
        for n, m in modules.items():
            assert torch.equal(m.weight, before[n]), n  # bit-identical
    assert sparsity_report(modules)["overall"] == 0.0


def test_two_four_on_gpt2_conv1d():
    model = MODELS["gpt2"]
    modules = find_targets(model)
    masks = make_masks({n: weight_2d(m).abs() for n, m in modules.items()}, 0.0, "2:4")
    with masked(modules, masks):
        for m in modules.values():
            w = weight_2d(m)
            assert bool(((w.reshape(w.shape[0], -1, 4) == 0).sum(-1) == 2).all())


def test_sparsegpt_reconstructs_better_than_magnitude():
    torch.manual_seed(0)
    d_in, d_out, n_tok = 64, 32, 512
    mix = torch.randn(d_in, d_in) * 0.3 + torch.eye(d_in)
    X = torch.randn(n_tok, d_in) @ mix  # correlated inputs
    W = torch.randn(d_out, d_in)
    H = X.t() @ X / n_tok
    for s, nm in ((0.5, None), (0.0, (2, 4))):
        Wg, keep = sparsegpt_layer(W, H, s, nm, blocksize=16)
        if nm:
            mag = nm_mask(W.abs(), *nm)
        else:
            mag = layer_mask(W.abs(), s)
        assert (Wg == 0).sum() >= (~keep).sum()
        err_g = (X @ (W - Wg).t()).square().sum()
        err_m = (X @ (W - W * mag).t()).square().sum()
        assert err_g < err_m
        assert int((~keep).sum()) == int((~mag).sum())  # same sparsity


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_prune_command_saves_a_checkpoint_that_reloads_with_the_same_zeros(method, tiny_model_dir, tmp_path):
    import json

    from transformers import AutoModelForCausalLM

    from auditor.cli import main

    calib = tmp_path / "calib.txt"
    calib.write_text("\n".join(f"The colour of item {i} is {i % 7}. Q: What is it? A: yes." for i in range(60)))
    out = tmp_path / "pruned"
    args = [
        "-q",
        "prune",
        "--model",
        str(tiny_model_dir),
        "--method",
        method,
        "--sparsity",
        "0.5",
        "--calibration",
        str(calib),
        "--n-samples",
        "8",
        "--seq-len",
        "16",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    recipe = json.loads((out / "pruning.json").read_text())
    assert recipe["method"] == method and recipe["actual_sparsity"] == pytest.approx(0.5, abs=0.01)
    m = AutoModelForCausalLM.from_pretrained(out)
    assert m.config.memaudit_pruning["method"] == method
    mods = find_targets(m)
    assert sparsity_report(mods)["overall"] == pytest.approx(recipe["actual_sparsity"])


def test_pattern_matching_nothing_lists_layers(tiny_model_dir):
    from auditor.models.load import load_model
    from auditor.pruning.engine import select_targets

    lm = load_model(str(tiny_model_dir))
    with pytest.raises(ConfigError, match="no layer matches.*found: model.layers.0.self_attn.q_proj"):
        select_targets(lm.model, PruneSpec(sparsity=0.5, targets=("nothing_like_this",)))


def test_short_calibration_texts(tiny_model_dir):
    from auditor.errors import InputError
    from auditor.models.load import load_model
    from auditor.pruning.calibration import calibration_rows

    lm = load_model(str(tiny_model_dir))
    with pytest.raises(InputError, match="fewer than seq_len=512"):
        calibration_rows(lm.tokenizer, ["short text"], 4, 512)


@pytest.mark.parametrize("granularity", ["layer", "row"])
def test_cached_ranking_gives_the_same_masks_as_sorting_each_time(granularity):
    from auditor.pruning.masks import RankedScores

    scores = {"a": torch.randn(12, 40).abs().round(decimals=1), "b": torch.randn(7, 16).abs()}
    ranked = RankedScores(scores, granularity)
    for s in (0.0, 0.2, 0.55, 0.9):
        direct = make_masks(scores, s, "unstructured", granularity)
        cached = ranked.masks(s)
        assert all(torch.equal(direct[n], cached[n]) for n in scores)


def test_sequential_wanda_first_block_matches_one_pass_and_later_blocks_see_pruned_inputs():
    import auditor.pruning.wanda as w
    from auditor.pruning.blockwise import block_of

    model = MODELS["llama"].eval()
    modules = find_targets(model)
    before = {n: m.weight.detach().clone() for n, m in modules.items()}
    calib = [list(range(i, i + 16)) for i in range(4)]
    spec = PruneSpec(sparsity=0.6)
    one = w.WandaNested()
    one_masks = one.masks(one.prepare(modules, model, calib), spec)
    seq = w.Wanda()
    seq.prepare(modules, model, calib)
    seq_masks = seq.masks({}, spec)
    first = [n for n in modules if block_of(n) == "model.layers.0"]
    later = [n for n in modules if block_of(n) == "model.layers.1"]
    assert first and later
    assert all(torch.equal(one_masks[n], seq_masks[n]) for n in first)  # dense inputs for the first block
    assert not all(torch.equal(one_masks[n], seq_masks[n]) for n in later)  # pruned inputs change the rest
    assert all(torch.equal(m.weight, before[n]) for n, m in modules.items())  # restored
    with masked(modules, seq_masks) as rep:
        assert rep["overall"] == pytest.approx(0.6, abs=0.01)


def test_quantized_weights_are_refused():
    from auditor.errors import InputError
    from auditor.pruning.engine import select_targets

    lin = torch.nn.Sequential(torch.nn.Linear(4, 4))
    lin[0].weight = torch.nn.Parameter(torch.zeros(4, 4, dtype=torch.int8), requires_grad=False)
    with pytest.raises(InputError, match="quantized"):
        select_targets(lin, PruneSpec(sparsity=0.5, ignore=()))
