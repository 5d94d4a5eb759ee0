"""Every attack equals an independent float64 hand computation from an unbatched pass; batching,
padding side and batch size do not change scores; metrics equal scikit-learn's."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.tokenstats import compute_token_stats
from auditor.models.load import load_model
from auditor.pipeline.library import run_mia
from auditor.probes.mia.runner import MIAConfig, expand_attacks, score_texts
from auditor.store.runs import RunDir

TEXTS = [
    "The colour of item 3 is 8. Q: What is it? A: yes.",
    "The Size of Item 12 is 6.",
    "Q: What is the shape of item 40? A: 1. The colour of item 2 is 1. The size",
    "item 7",
    "The shape of item 199 is 5 and The colour of item 11 is 12.",
]


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def _hand_stats(model, tok, text, prefix_ids=None):
    """float64, one text, no padding: (token logprobs, mu, sigma2) of the text's own tokens."""
    ids = tok(text)["input_ids"]
    skip = 1
    if prefix_ids:
        ids = ids[:1] + prefix_ids + ids[1:]
        skip = 1 + len(prefix_ids)
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model.double()(x).logits[0].double()
    model.float()
    lp_all = torch.log_softmax(logits[:-1], -1)
    tgt = x[0, 1:]
    lp = lp_all.gather(-1, tgt[:, None]).squeeze(-1)
    p = lp_all.exp()
    mu = (p * lp_all).sum(-1)
    var = (p * (lp_all - mu[:, None]) ** 2).sum(-1)  # textbook variance, not E[x^2]-E[x]^2
    sl = slice(skip - 1, None)
    return lp[sl].numpy(), mu[sl].numpy(), var[sl].numpy()


def _lowest(v, k):
    n = max(1, int(len(v) * k))
    return np.sort(v)[:n].mean()


def test_each_attack_equals_hand_computation(lm):
    model, tok = lm.model, lm.tokenizer
    prefix = tok("The size of item 5 is 9.", add_special_tokens=False)["input_ids"]
    variants = expand_attacks(["loss", "zlib", "lowercase", "min_k@0.2", "min_k_pp@0.3", "recall", "reference"], True)
    ref = load_model(str(lm.resolved))
    with torch.no_grad():  # make the reference differ from the target
        for p in ref.model.parameters():
            p.mul_(0.9)
    scores, _ = score_texts(
        model, tok, TEXTS, variants, MIAConfig(batch_size=2), reference_model=ref.model, recall_prefix=prefix
    )
    for j, text in enumerate(TEXTS):
        lp, mu, var = _hand_stats(model, tok, text)
        lp_low, _, _ = _hand_stats(model, tok, text.lower())
        lp_ref, _, _ = _hand_stats(ref.model, tok, text)
        lp_rec, _, _ = _hand_stats(model, tok, text, prefix)
        expect = {
            "loss": lp.mean(),
            "zlib": lp.mean() / len(zlib.compress(text.encode("utf-8"))),  # Carlini et al. 2021: mean LL / zlib bytes
            "lowercase": lp.mean() - lp_low.mean(),
            "min_k@0.2": _lowest(lp, 0.2),
            "min_k_pp@0.3": _lowest((lp - mu) / np.sqrt(var), 0.3),
            "recall": lp_rec.mean() / lp.mean(),
            "reference": lp.mean() - lp_ref.mean(),
        }
        for name, v in expect.items():
            assert scores[name][j] == pytest.approx(v, abs=1e-4, rel=1e-4), (name, j)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("bs", [1, 2, 5])
def test_batched_equals_unbatched(lm, side, bs):
    ref = compute_token_stats(lm.model, lm.tokenizer, TEXTS, batch_size=1)
    got = compute_token_stats(lm.model, lm.tokenizer, TEXTS, batch_size=bs, padding_side=side, chunk=3)
    for a, b in zip(ref.logprob + ref.mu + ref.sigma2, got.logprob + got.mu + got.sigma2, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4


def test_truncation_is_counted(lm):
    st = compute_token_stats(lm.model, lm.tokenizer, TEXTS, max_tokens=6)
    assert st.truncated == sum(len(lm.tokenizer(t)["input_ids"]) > 6 for t in TEXTS)
    assert all(a.size <= 5 for a in st.logprob)


def test_max_tokens_below_two(lm):
    with pytest.raises(ConfigError, match="at least 2"):
        compute_token_stats(lm.model, lm.tokenizer, TEXTS, max_tokens=1)


def test_unknown_attack_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown attack 'min_kk' \(did you mean 'min_k'\?\); valid: .*loss"):
        expand_attacks(["min_kk"], False)
    with pytest.raises(ConfigError, match="needs --reference-model"):
        expand_attacks(["reference"], False)
    assert [v for v, _, _ in expand_attacks(["min_k@0.2", "min_k_pp"], False)][:2] == ["min_k@0.2", "min_k_pp@0.05"]


def test_reference_with_other_tokenizer_is_refused(lm, tiny_tokenizer, tmp_path):
    from auditor.lab.train import train_tokenizer

    other = train_tokenizer(["completely different words here"] * 50, vocab_size=280)
    sets = TextSet(["a"], [TEXTS[0]], "m"), TextSet(["b", "c"], TEXTS[1:3], "n")
    with pytest.raises(ConfigError, match="tokenizer differs"):
        run_mia(
            lm.model,
            lm.tokenizer,
            *sets,
            RunDir(tmp_path / "run", {"x": 1}),
            MIAConfig(attacks=("reference",)),
            reference_model=lm.model,
            reference_tokenizer=other,
        )


def test_one_class_and_empty_set_are_refused(lm, tmp_path):
    run = RunDir(tmp_path / "r", {"x": 1})
    with pytest.raises(InputError, match="no non-members"):
        run_mia(lm.model, lm.tokenizer, TextSet(["a"], ["x y"], "m"), TextSet([], [], "n"), run)


def test_run_writes_outputs_matches_sklearn_and_resumes(lm, tmp_path):
    members = TextSet([f"m{i}" for i in range(3)], TEXTS[:3], "m")
    # no text in both sets (one would be dropped from both: it cannot be labelled)
    extra = ["The colour of item 1 is 2.", "Q: A: 5 5 5", "The size of item 9 is 4."]
    nonmembers = TextSet([f"n{i}" for i in range(5)], TEXTS[3:] + extra, "n")
    cfg = MIAConfig(attacks=("loss", "min_k_pp", "recall"), unit_size=3, n_boot=50)
    run = RunDir(tmp_path / "run", {"cfg": 1})
    res = run_mia(lm.model, lm.tokenizer, members, nonmembers, run, cfg)
    lines = [json.loads(x) for x in (tmp_path / "run" / "samples" / "mia_scores.jsonl").read_text().splitlines()]
    assert len(lines) == 3 + 5 - 3  # three non-members became the ReCaLL prefix
    assert json.loads((tmp_path / "run" / "mia.json").read_text()).keys() == res.keys()
    assert "min_k_pp@0.2" in res
    assert not (tmp_path / "run" / "mia_roc.png").exists()  # a library call spends no time drawing
    y = [x["label"] for x in lines]
    for name in res:
        s = [x["scores"][name] for x in lines]
        assert res[name]["auc"] == pytest.approx(roc_auc_score(y, s))
    n_rec = len((tmp_path / "run" / "records.jsonl").read_text().splitlines())
    again = run_mia(lm.model, lm.tokenizer, members, nonmembers, RunDir(tmp_path / "run", {"cfg": 1}), cfg)
    assert again == res
    assert len((tmp_path / "run" / "records.jsonl").read_text().splitlines()) == n_rec
    assert len((tmp_path / "run" / "samples" / "mia_scores.jsonl").read_text().splitlines()) == len(lines)


def test_chunked_head_equals_full_logits_and_is_used_for_llama_and_gpt2(lm):
    from transformers import GPT2Config, GPT2LMHeadModel

    from auditor.lm.tokenstats import chunked_head

    probe = torch.tensor([lm.tokenizer(TEXTS[0])["input_ids"][:8]])
    assert chunked_head(lm.model, probe) is not None
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=lm.tokenizer.vocab_size + 10)).eval()
    assert chunked_head(gpt2, probe) is not None
    a = compute_token_stats(lm.model, lm.tokenizer, TEXTS, batch_size=2, use_chunked_head=True, chunk=4)
    b = compute_token_stats(lm.model, lm.tokenizer, TEXTS, batch_size=2, use_chunked_head=False)
    for x, y in zip(a.logprob + a.mu + a.sigma2, b.logprob + b.mu + b.sigma2, strict=True):
        assert np.abs(x - y).max() < 1e-5


def test_post_processed_logits_fall_back_to_full_logits(lm):
    from auditor.lm.tokenstats import chunked_head

    class Capped(torch.nn.Module):  # a model whose logits are soft-capped after the head
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.base_model = inner.base_model

        def get_output_embeddings(self):
            return self.inner.get_output_embeddings()

        def forward(self, **kw):
            out = self.inner(**kw)
            out.logits = 2.0 * torch.tanh(out.logits / 2.0)
            return out

    probe = torch.tensor([lm.tokenizer(TEXTS[0])["input_ids"][:8]])
    assert chunked_head(Capped(lm.model), probe) is None


def test_the_head_check_runs_once_per_model(lm):
    """The chunked-head check (two extra forward passes) is a property of the architecture: it runs the
    first time a model is scored, not on every call, and pruning in place does not re-run it."""
    import copy

    model = copy.deepcopy(lm.model)  # a model object the cache has not seen
    full_passes = []
    model.register_forward_hook(lambda *_: full_passes.append(1))  # the whole model's forward: the check
    first = compute_token_stats(model, lm.tokenizer, TEXTS, batch_size=2)
    assert len(full_passes) == 1
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)  # weights edited in place, as a pruning point does
    second = compute_token_stats(model, lm.tokenizer, TEXTS, batch_size=2)
    assert len(full_passes) == 1  # no second check
    assert any(np.abs(x - y).max() > 1e-6 for x, y in zip(first.logprob, second.logprob, strict=True))


def test_zlib_is_carlini_mean_loglik_over_zlib_bytes_by_hand():
    """Carlini et al. 2021: mean NLL over zlib entropy; a total-NLL ratio orders these two texts the other way."""
    from auditor.lm.tokenstats import TokenStats
    from auditor.probes.mia.base import AttackInputs
    from auditor.probes.mia.zlib_ratio import zlib_score

    short, long = np.array([-1.0, -1.0]), np.full(10, -0.5)
    stats = TokenStats(logprob=[short, long], mu=[short, long], sigma2=[short, long], zlib_bytes=[10, 20], truncated=0)
    got = zlib_score(AttackInputs(target=stats))
    assert got.tolist() == pytest.approx([-1.0 / 10, -0.5 / 20])
    assert got[1] > got[0] and (short.sum() / 10) > (long.sum() / 20)  # the old total-NLL ratio ranked them reversed


def test_default_attacks_are_four_fixed_k_attacks_without_recall_or_reference():
    from auditor.cli.main import build_parser
    from auditor.cli.mia import _mia_config
    from auditor.probes.mia import DEFAULT_ATTACKS

    assert DEFAULT_ATTACKS == ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2") == MIAConfig().attacks
    assert [v for v, _, _ in expand_attacks(DEFAULT_ATTACKS, False)] == list(DEFAULT_ATTACKS)  # no grid
    argv = ["mia", "--model", "m", "--members", "a", "--nonmembers", "b", "--out", "o"]
    p = build_parser()
    assert _mia_config(p.parse_args(argv)).attacks == DEFAULT_ATTACKS
    assert _mia_config(p.parse_args([*argv, "--reference-model", "r"])).attacks == (*DEFAULT_ATTACKS, "reference")
    asked = _mia_config(p.parse_args([*argv, "--attacks", "loss, recall,min_k"])).attacks
    assert asked == ("loss", "recall", "min_k")  # opt-in attacks and the k grid still parse


def _res(auc: float, n_non: int) -> dict:
    return {
        "auc": auc,
        "auc_ci": [auc - 0.1, auc + 0.05],
        "tpr@1%fpr": 0.2,
        "tpr@1%fpr_ci": [0.1, 0.3],
        "tpr@0.1%fpr": 0.05,
        "tpr@0.1%fpr_ci": [0.0, 0.1],
        "n_members": 10,
        "n_nonmembers": n_non,
    }


def test_tpr_at_fpr_is_na_below_one_over_fpr_nonmembers():
    from auditor.cli.mia import tpr_cell

    assert tpr_cell(_res(0.7, 99), "tpr@1%fpr") == "n/a (needs >= 100 non-members)"
    assert tpr_cell(_res(0.7, 100), "tpr@1%fpr") == "0.200 [0.100, 0.300]"
    assert tpr_cell(_res(0.7, 999), "tpr@0.1%fpr") == "n/a (needs >= 1,000 non-members)"
    assert tpr_cell(_res(0.7, 1000), "tpr@0.1%fpr") == "0.050 [0.000, 0.100]"
    assert tpr_cell({**_res(0.7, 5000), "tpr@1%fpr_low_n": True}, "tpr@1%fpr").startswith("n/a")  # the record's flag


def test_k_grid_marks_its_best_k_as_tuned_on_the_evaluation_data(capsys):
    from auditor.cli.mia import print_table, tuned_picks

    grid = [v for v, _, _ in expand_attacks(["min_k"], False)]
    result = {"loss": _res(0.6, 150), **{v: _res(0.5 + 0.01 * i, 150) for i, v in enumerate(grid)}}
    best = grid[-1]
    result[best]["auc"], result[grid[0]]["auc"] = 0.55, 0.9  # the best k is the grid's first
    assert tuned_picks(("loss", "min_k"), result) == {grid[0]: "min_k"}
    assert tuned_picks(("loss", "min_k@0.2"), {"loss": result["loss"], "min_k@0.2": result["loss"]}) == {}
    print_table(result, ("loss", "min_k"))
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[1 : 2 + len(grid)]}
    assert "(tuned)" in rows[grid[0]] and not any("(tuned)" in rows[v] for v in ["loss", *grid[1:]])
    assert f"(tuned) {grid[0]}: the best k of the min_k grid, tuned on the evaluation data" in out[-1]
    assert all("n/a (needs >= 1,000 non-members)" in rows[v] and "0.200 [0.100, 0.300]" in rows[v] for v in rows)


def test_cli_default_run_scores_every_nonmember_and_reports_na(tiny_model_dir, tmp_path, capsys):
    from auditor.cli.main import main

    for name, texts in (("m", TEXTS), ("n", [t.upper() for t in TEXTS])):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": f"{name}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )
    argv = [
        "-q",
        "mia",
        "--model",
        str(tiny_model_dir),
        "--members",
        str(tmp_path / "m.jsonl"),
        "--nonmembers",
        str(tmp_path / "n.jsonl"),
        "--out",
        str(tmp_path / "run"),
        "--n-boot",
        "20",
        "--no-blind",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "run" / "mia.json").read_text())
    assert list(res) == ["loss", "zlib", "min_k@0.2", "min_k_pp@0.2"]
    assert all(r["n_nonmembers"] == len(TEXTS) for r in res.values())  # no ReCaLL prefix took any
    assert out.count("n/a (needs >= 100 non-members)") == 4 and "(tuned)" not in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["command"] == "mia" and summary["weights_fingerprint"].startswith("sha256:")
    assert summary["figures"]["mia.loss.auc"]["value"] == pytest.approx(res["loss"]["auc"])
    assert [summary["figures"]["mia.loss.auc"][b] for b in ("ci_low", "ci_high")] == res["loss"]["auc_ci"]


def test_cli_draws_the_roc_of_every_attack(tiny_model_dir, tmp_path):
    from auditor.cli.main import main

    for name, texts in (("m", TEXTS), ("n", [t.upper() for t in TEXTS])):  # two sets that share no text
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": f"{name}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )
    rc = main(
        [
            "mia",
            "--model",
            str(tiny_model_dir),
            "--members",
            str(tmp_path / "m.jsonl"),
            "--nonmembers",
            str(tmp_path / "n.jsonl"),
            "--out",
            str(tmp_path / "run"),
            "--n-boot",
            "20",
            "--blind",
        ]
    )
    png = tmp_path / "run" / "mia_roc.png"
    assert rc == 0 and png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lowest_k_means_of_a_grid_equal_the_per_text_definition():
    from auditor.probes.mia.base import LowestKMeans

    rng = np.random.default_rng(0)
    texts = [np.round(rng.normal(size=n), 1) for n in (1, 2, 3, 7, 10, 33, 128)]  # ties, one-token texts
    means = LowestKMeans(texts)
    for k in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0):
        want = [float(np.sort(a)[: max(1, int(len(a) * k))].mean()) for a in texts]  # Min-K%: the lowest k%
        assert means(k) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert means(0.3)[4] == pytest.approx(np.sort(texts[4])[:3].mean())  # int(10 * 0.3) = 3 tokens, not 2
