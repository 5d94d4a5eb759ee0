"""Pruning sessions: nested masks applied incrementally across a sweep must leave the model exactly as a
fresh mask at each point would (weights and sparsity report), and give the original weights back."""

from __future__ import annotations

import copy

import pytest
import torch

import auditor.pruning.wanda  # noqa: F401  (registers wanda_nested)
from auditor.pruning.apply import masked, sparsity_report
from auditor.pruning.engine import Pruning
from auditor.pruning.masks import make_masks
from auditor.pruning.methods import PRUNERS, PruneSpec
from auditor.pruning.targets import find_targets


def _model(arch: str) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if arch == "gpt2":  # Conv1D: weights stored transposed
        return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.weight.detach().clone() for n, m in find_targets(model).items()}


def _fresh(model: torch.nn.Module, method: str, spec: PruneSpec, calib: list) -> tuple[dict, dict]:
    """The weights and report of one point pruned on its own: the method's masks from the dense weights,
    computed independently of any ranking (a stable sort of the scores each time)."""
    modules = find_targets(model)
    pruner = PRUNERS.get(method)()
    scores = pruner.prepare(modules, model, calib)
    granularity = spec.granularity or pruner.default_granularity
    masks = make_masks({n: scores[n] for n in scores}, spec.sparsity, spec.structure, granularity)
    with masked(modules, masks) as rep:
        return _weights(model), rep


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize(("method", "granularity"), [("magnitude", None), ("magnitude", "row"), ("wanda_nested", None)])
def test_a_session_prunes_each_point_as_a_fresh_mask_would_and_restores(arch, method, granularity):
    model = _model(arch)
    with torch.no_grad():  # ties and zeros already there: kept exact by the ranking and by the count
        next(iter(find_targets(model).values())).weight[:3] = 0
    before = _weights(model)
    calib = [list(range(i, i + 16)) for i in range(4)]
    pruning = Pruning(model, method, calib)
    # rising (incremental), repeated, falling (restart), another structure, dense, and rising again
    points = [0.1, 0.3, 0.3, 0.65, 0.2, ("2:4", 0.0), 0.0, 0.5]
    dense_copy = copy.deepcopy(model)
    dense_rep = sparsity_report(find_targets(model))
    with pruning.session():
        for p in points:
            structure, s = p if isinstance(p, tuple) else ("unstructured", p)
            spec = PruneSpec(sparsity=s, structure=structure, granularity=granularity)
            with pruning.at(spec) as rep:
                got = _weights(model)
                assert rep == sparsity_report(find_targets(model))  # the kept count is the measured one
            want, want_rep = _fresh(dense_copy, method, spec, calib)
            assert all(torch.equal(got[n], want[n]) for n in want), (p, method)
            assert rep == want_rep
            held = structure == "unstructured" and s > 0  # a ranked point stays pruned until needed
            assert (sparsity_report(find_targets(model)) != dense_rep) is held
    assert all(torch.equal(w, before[n]) for n, w in _weights(model).items())  # bit-identical at the end


def test_the_session_restores_the_weights_after_an_error():
    model = _model("llama")
    before = _weights(model)
    pruning = Pruning(model, "magnitude")
    with pytest.raises(RuntimeError, match="boom"), pruning.session():
        with pruning.at(PruneSpec(sparsity=0.4)):
            pass
        with pruning.at(PruneSpec(sparsity=0.8)):
            raise RuntimeError("boom")
    assert all(torch.equal(w, before[n]) for n, w in _weights(model).items())


def test_outside_a_session_every_point_is_restored_on_exit():
    model = _model("llama")
    before = _weights(model)
    pruning = Pruning(model, "magnitude")
    with pruning.at(PruneSpec(sparsity=0.5)) as rep:
        assert rep["overall"] == pytest.approx(0.5, abs=0.01)
    assert all(torch.equal(w, before[n]) for n, w in _weights(model).items())


def test_the_loop_gives_each_method_and_the_dense_point_the_original_weights(tmp_path):
    from types import SimpleNamespace

    from auditor.pipeline.loop import Pruners

    model = _model("llama")
    before = _weights(model)
    calib = [list(range(i, i + 16)) for i in range(4)]
    pruners = Pruners(SimpleNamespace(model=model), lambda: calib)
    with pruners.at("magnitude", 0.5):
        pass
    with pruners.at("magnitude", 0.7) as rep:
        assert rep["overall"] == pytest.approx(0.7, abs=0.01)
    with pruners.at("dense", 0.0) as rep:  # the dense point measures the original model
        assert rep["overall"] == 0.0 and all(torch.equal(w, before[n]) for n, w in _weights(model).items())
    with pruners.at("wanda_nested", 0.5):  # calibrated and ranked on the original weights
        got = _weights(model)
    pruners.release()
    want, _ = _fresh(model, "wanda_nested", PruneSpec(sparsity=0.5), calib)
    assert all(torch.equal(got[n], want[n]) for n in want)
    assert all(torch.equal(w, before[n]) for n, w in _weights(model).items())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_the_integer_keyed_stable_order_is_the_float_stable_sort(dtype):
    from auditor.pruning.masks import sort_keys, stable_order

    torch.manual_seed(1)
    x = (torch.randn(40, 300) * 8).round() / 8  # many ties
    x[0, :20] = -0.0
    x[1, :20] = 0.0
    x[2, :5] = float("inf")
    x[3, :5] = -float("inf")
    x[4, :3] = float("nan")
    x[5, :3] = -float("nan")
    x = x.to(dtype)
    for dim_x in (x, x.reshape(-1), x.abs()):
        want = torch.sort(dim_x, dim=-1, stable=True).indices
        assert torch.equal(stable_order(dim_x), want)
    f = x.float().reshape(-1)[::4]
    ok = ~torch.isnan(f)
    keys = sort_keys(f)[ok]
    a, b = f[ok][:, None], f[ok][None, :]
    ka, kb = keys[:, None], keys[None, :]
    assert torch.equal(ka < kb, a < b) and torch.equal(ka == kb, a == b)  # same order, same ties
