"""Unlearning methods: each edits the model and lowers the forget set's likelihood; NPO's loss by hand;
prune_unlearn's exact counts and targeting; input errors; the saved checkpoint; the CLI plug-in."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from auditor.errors import ConfigError, InputError, OutputError
from auditor.inputs.data import TextSet, load_texts
from auditor.lm.scoring import mean_nll
from auditor.models.load import load_model
from auditor.pruning.targets import find_targets
from auditor.unlearning import UNLEARNERS, UnlearnConfig, check_sets, unlearn, unlearn_checkpoint
from auditor.unlearning.npo import npo_loss
from auditor.unlearning.prune_unlearn import prune_scores

METHODS = ("gradient_ascent", "gradient_difference", "npo", "prune_unlearn")
FAST = UnlearnConfig(lr=1e-3, steps=6, batch_size=4, prune_fraction=0.05)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest.py)


def _set(rows: list[dict], name: str) -> TextSet:
    return TextSet([r["id"] for r in rows], [r["text"] for r in rows], name)


@pytest.fixture(scope="module")
def lab_sets(micro_lab: Path) -> tuple[TextSet, TextSet]:
    members = load_texts(micro_lab / "members.jsonl")
    rows = [{"id": i, "text": t} for i, t in zip(members.ids, members.texts, strict=True)]
    return _set(rows[:8], "forget"), _set(rows[8:], "retain")


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_registry_has_the_methods_and_suggests_names() -> None:
    assert UNLEARNERS.names() == sorted(METHODS)
    with pytest.raises(ConfigError, match="did you mean 'npo'"):
        UNLEARNERS.get("npoo")


@pytest.mark.parametrize("method", METHODS)
def test_each_method_changes_the_model_and_lowers_forget_likelihood(method, micro_lab, lab_sets) -> None:
    forget, retain = lab_sets
    lm = load_model(str(micro_lab / "model"))
    before_w = _snapshot(lm.model)
    nll_f0 = _mean(mean_nll(lm.model, lm.tokenizer, forget.texts))
    nll_r0 = _mean(mean_nll(lm.model, lm.tokenizer, retain.texts))
    figs = unlearn(lm.model, lm.tokenizer, method, forget, retain, FAST)
    nll_f1 = _mean(mean_nll(lm.model, lm.tokenizer, forget.texts))
    nll_r1 = _mean(mean_nll(lm.model, lm.tokenizer, retain.texts))
    assert figs["method"] == method and figs["seconds"] >= 0
    changed = [k for k, v in _snapshot(lm.model).items() if not torch.equal(v, before_w[k])]
    assert changed, "the weights did not change"
    # micro lab builds of seeds 0-2 (1 and 2 threads): the forget NLL rose 0.80-5.5, its rise minus the retain
    # set's was 0.30-0.74 for gradient_difference and npo (min: npo, seed 1)
    assert nll_f1 > nll_f0 + 0.05, (nll_f0, nll_f1)
    if method in ("gradient_difference", "npo"):  # the retain term protects the retain set
        assert nll_f1 - nll_f0 > nll_r1 - nll_r0, ((nll_f0, nll_f1), (nll_r0, nll_r1))
    # left as load_model leaves a model: eval mode, no gradients, same dtype
    assert not lm.model.training
    assert all(not p.requires_grad and p.grad is None for p in lm.model.parameters())
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())
    if method != "prune_unlearn":
        assert figs["steps"] == FAST.steps and figs["final_losses"]["forget_nll"] > figs["first_losses"]["forget_nll"]


@pytest.mark.parametrize(("method", "without"), [("gradient_difference", "gradient_ascent"), ("npo", "npo")])
def test_the_retain_term_keeps_the_retain_set(method, without, micro_lab, lab_sets) -> None:
    """The same run with and without the retain term: the retain set's NLL rises less with it."""
    forget, retain = lab_sets
    nll = {}
    for name, m, r in (("with", method, retain), ("without", without, None)):
        lm = load_model(str(micro_lab / "model"))
        unlearn(lm.model, lm.tokenizer, m, forget, r, FAST)
        nll[name] = _mean(mean_nll(lm.model, lm.tokenizer, retain.texts))
    assert nll["with"] < nll["without"] - 0.05, nll  # by 2.1-3.9 over micro lab builds of seeds 0-2


def test_npo_loss_matches_a_hand_computation() -> None:
    logp = torch.tensor([-10.0, -20.0, -5.0], requires_grad=True)
    ref = torch.tensor([-12.0, -15.0, -5.0])
    beta = 0.1
    hand = (2 / beta) * sum(math.log(1 + math.exp(beta * (a - b))) for a, b in [(-10, -12), (-20, -15), (-5, -5)]) / 3
    loss = npo_loss(logp, ref, beta)
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    # equal likelihoods: (2 / beta) * log 2
    assert npo_loss(ref, ref, 0.5).item() == pytest.approx(4 * math.log(2), rel=1e-6)
    # the gradient is gradient ascent's, weighted by 2 * sigmoid(beta * log-ratio) / n
    loss.backward()
    weights = [2 / (1 + math.exp(-beta * d)) / 3 for d in (2.0, -5.0, 0.0)]
    assert logp.grad.tolist() == pytest.approx(weights, rel=1e-5)


def test_npo_stops_pushing_once_forget_likelihood_is_far_below_the_reference() -> None:
    logp = torch.tensor([-200.0], requires_grad=True)
    npo_loss(logp, torch.tensor([-10.0]), 0.1).backward()
    assert 0 < logp.grad.item() < 1e-7  # gradient ascent would still push with weight 1


def test_prune_scores_formula() -> None:
    w = torch.tensor([[1.0, -2.0], [0.5, 4.0]])
    scores = prune_scores(w, torch.tensor([2.0, 1.0]), torch.tensor([1.0, 4.0]), eps=0.0)
    assert torch.allclose(scores, torch.tensor([[2.0, 0.5], [1.0, 1.0]]))


@pytest.mark.parametrize("granularity", ["layer", "row"])
def test_prune_unlearn_zeroes_exactly_the_configured_count_in_targeted_layers(granularity, micro_lab, lab_sets) -> None:
    forget, retain = lab_sets
    lm = load_model(str(micro_lab / "model"))
    pattern = r".*mlp\.(up|down)_proj"
    targets = find_targets(lm.model, (pattern,))
    assert targets and len(targets) < len(find_targets(lm.model))
    before = _snapshot(lm.model)
    cfg = replace(FAST, prune_fraction=0.03, prune_granularity=granularity, targets=(pattern,))
    figs = unlearn(lm.model, lm.tokenizer, "prune_unlearn", forget, retain, cfg)
    after = lm.model.state_dict()
    for key, old in before.items():
        diff = after[key] != old
        layer = key.removesuffix(".weight")
        if layer not in targets:
            assert not diff.any(), f"{key} changed but is not targeted"
            continue
        assert (after[key][diff] == 0).all()
        out_f, in_f = old.shape
        expected = round(0.03 * old.numel()) if granularity == "layer" else out_f * round(0.03 * in_f)
        assert int(diff.sum()) == expected == figs["pruned_per_layer"][layer]
        if granularity == "row":
            assert (diff.sum(1) == round(0.03 * in_f)).all()
    assert figs["layers"] == len(targets)


def test_prune_unlearn_targets_forget_specific_inputs(tiny_model_dir) -> None:
    """Columns whose inputs are large on the forget texts and small on the retain texts are pruned first."""
    lm = load_model(str(tiny_model_dir))
    forget = TextSet(["f"], ["The colour of item 3 is 8. Q: What is it? A: yes."], "forget")
    retain = TextSet(["r"], ["The size of item 5 is 9."], "retain")
    from auditor.unlearning.prune_unlearn import activation_rms

    targets = find_targets(lm.model)
    enc = lambda ts: [lm.tokenizer(t)["input_ids"] for t in ts.texts]  # noqa: E731
    rms_f, _ = activation_rms(lm.model, targets, enc(forget))
    rms_r, _ = activation_rms(lm.model, targets, enc(retain))
    name = next(iter(targets))
    w = targets[name].weight.detach().clone()
    unlearn(lm.model, lm.tokenizer, "prune_unlearn", forget, retain, replace(FAST, prune_fraction=0.1))
    pruned = (targets[name].weight == 0) & (w != 0)
    score = prune_scores(w, rms_f[name], rms_r[name], FAST.prune_eps)
    assert score[pruned].min() >= score[~pruned].max()


def test_overlapping_sets_are_refused_with_the_ids() -> None:
    forget = TextSet(["a", "b", "c"], ["alpha text", "beta text", "gamma text"], "forget.jsonl")
    by_id = TextSet(["b", "x"], ["other", "more"], "retain.jsonl")
    with pytest.raises(InputError, match=r"same id: b\b"):
        check_sets(forget, by_id, "npo", False)
    by_text = TextSet(["y", "z"], ["gamma text", "unrelated"], "retain.jsonl")
    with pytest.raises(InputError, match="same text: c = retain y"):
        check_sets(forget, by_text, "npo", False)
    check_sets(forget, TextSet(["x"], ["fine"], "r"), "npo", False)


def test_bad_inputs_are_refused(tiny_model_dir) -> None:
    lm = load_model(str(tiny_model_dir))
    empty = TextSet([], [], "forget.jsonl")
    with pytest.raises(InputError, match="forget set forget.jsonl is empty"):
        unlearn(lm.model, lm.tokenizer, "npo", empty, None)
    forget = TextSet(["a"], ["The size of item 1 is 7."], "f")
    for method in ("gradient_difference", "prune_unlearn"):
        with pytest.raises(InputError, match=f"{method}' needs a retain set"):
            unlearn(lm.model, lm.tokenizer, method, forget, None)
    with pytest.raises(ConfigError, match="did you mean 'gradient_ascent'"):
        unlearn(lm.model, lm.tokenizer, "gradient_accent", forget, None)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        UnlearnConfig(lr=0)
    with pytest.raises(ConfigError, match="prune_fraction"):
        UnlearnConfig(prune_fraction=1.5)


def test_same_seed_same_result_and_bf16_stays_bf16(tiny_model_dir) -> None:
    from auditor.models.load import ModelSpec

    forget = TextSet(["a", "b", "c"], ["The size of item 1 is 7.", "The colour of item 2 is 1.", "Q: A: yes."], "f")
    cfg = UnlearnConfig(lr=1e-3, steps=3, batch_size=2)
    runs = []
    for _ in range(2):
        lm = load_model(str(tiny_model_dir))
        unlearn(lm.model, lm.tokenizer, "npo", forget, None, cfg)
        runs.append(_snapshot(lm.model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    lm = load_model(ModelSpec(str(tiny_model_dir), dtype="bfloat16"))
    before = _snapshot(lm.model)
    unlearn(lm.model, lm.tokenizer, "gradient_ascent", forget, None, cfg)
    assert all(p.dtype == torch.bfloat16 for p in lm.model.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in lm.model.state_dict().items())


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    return path


def test_unlearn_checkpoint_saves_a_loadable_model_with_its_record(tiny_model_dir, tmp_path) -> None:
    forget = _write(tmp_path / "forget.jsonl", [("f1", "The size of item 1 is 7."), ("f2", "The size of item 4 is 2.")])
    retain = _write(tmp_path / "retain.jsonl", [("r1", "The colour of item 9 is 3."), ("r2", "Q: What is it? A: yes.")])
    out = tmp_path / "unlearned"
    cfg = UnlearnConfig(lr=1e-3, steps=2, batch_size=2)
    with pytest.raises(ConfigError, match="unknown unlearning method"):
        unlearn_checkpoint(str(tiny_model_dir), "nope", forget, retain, out, cfg)
    assert not out.exists()
    info = unlearn_checkpoint(str(tiny_model_dir), "gradient_difference", forget, retain, out, cfg)
    saved = json.loads((out / "unlearning.json").read_text())
    assert saved["method"] == "gradient_difference" and saved["config"]["steps"] == 2
    assert saved["figures"]["steps"] == 2 and saved["forget"]["n"] == 2 and saved["retain"]["n"] == 2
    assert saved["source"]["fingerprint"] == load_model(str(tiny_model_dir)).fingerprint != ""
    assert saved == json.loads(json.dumps(info))
    lm = load_model(str(out))
    assert lm.model.config.memaudit_unlearning["method"] == "gradient_difference"
    base = load_model(str(tiny_model_dir)).model.state_dict()
    assert any(not torch.equal(v, base[k]) for k, v in lm.model.state_dict().items())
    assert not list(tmp_path.glob(".unlearned.partial-*"))  # the staging folder is gone
    blank = _write(
        tmp_path / "blank.jsonl", [("b1", ""), ("b2", "The size of item 2 is 1.")]
    )  # fails after loading: nothing half-written is left
    with pytest.raises(InputError, match="fewer than 2 tokens"):
        unlearn_checkpoint(str(tiny_model_dir), "npo", blank, None, tmp_path / "blank", cfg)
    assert not (tmp_path / "blank").exists() and not list(tmp_path.glob(".blank.partial-*"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="did not create"):
        unlearn_checkpoint(str(tiny_model_dir), "npo", forget, None, tmp_path / "other", cfg, overwrite=True)
    assert (tmp_path / "other" / "keep.txt").read_text() == "x"
    with pytest.raises(OutputError, match="--overwrite"):  # ours, but replacing it must be asked for
        unlearn_checkpoint(str(tiny_model_dir), "npo", forget, None, out, cfg)


def test_cli_unlearn(tiny_model_dir, tmp_path, capsys) -> None:
    from auditor.cli import unlearn as cli_unlearn

    parser = argparse.ArgumentParser()
    cli_unlearn.add_parsers(parser.add_subparsers(dest="command"))
    forget = _write(tmp_path / "forget.jsonl", [("f1", "The size of item 1 is 7.")])
    out = tmp_path / "out"
    argv = ["unlearn", "--model", str(tiny_model_dir), "--method", "npo", "--forget", str(forget), "--out", str(out)]
    a = parser.parse_args([*argv, "--lr", "0.002", "--steps", "2", "--set", "beta=0.5", "--set", "steps=9"])
    assert cli_unlearn.resolve_config(a) == UnlearnConfig(lr=0.002, steps=2, beta=0.5)
    assert a.handler(a) == 0
    assert "npo: 2 steps" in capsys.readouterr().out
    assert json.loads((out / "unlearning.json").read_text())["config"]["beta"] == 0.5
    with pytest.raises(ConfigError, match="betta: unknown key"):
        cli_unlearn.resolve_config(parser.parse_args([*argv, "--set", "betta=1"]))
