"""Extraction probes: batched cached decoding == per-sample generate(); metrics == hand computations; exposure
rank == brute force; n-gram index hits/misses; resume without duplicates; clear errors on bad input; the
standard lab's extraction and exposure rise with repeats."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from auditor.errors import ConfigError, InputError
from auditor.lm.decoding import decode, generate_one_by_one
from auditor.models.load import ModelSpec, load_model, shipped_lab_dir
from auditor.pipeline.library import run_exposure, run_extraction, run_untargeted
from auditor.probes.extraction import ExposureConfig, ExtractionConfig, UntargetedConfig, extraction_scores
from auditor.probes.extraction import runner as ext_runner
from auditor.probes.extraction.candidates import candidate_logliks
from auditor.probes.extraction.exposure import canary_exposure, exposure_from_rank, fit_log_cdf, mid_rank
from auditor.probes.extraction.items import token_items
from auditor.probes.extraction.match import bleu, levenshtein, longest_run, match_metrics, similarity, token_match
from auditor.probes.extraction.ngrams import NgramIndex
from auditor.probes.extraction.sampling import Sampler, filter_logits
from auditor.probes.extraction.untargeted import read_corpus
from auditor.store.runs import RunDir

TEXTS = [
    "The colour of item 3 is 8. Q: What is it? A: yes. The size of item 4 is 2.",
    "The size of item 12 is 6. Q: What is it? A: yes. The shape of item 9 is 1.",
    "Q: What is the shape of item 40? A: 1. The colour of item 2 is 1. The size of it",
    "item 7",
    "The shape of item 199 is 5 and the colour of item 11 is 12. Q: What is it? A: yes.",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(ModelSpec(str(tiny_model_dir), device="cpu"))


@pytest.fixture(scope="module")
def lab():
    return load_model(ModelSpec("lab", device="cpu"))


# ---------------------------------------------------------------- decoding


def _mixed_prompts(tok, texts, n):
    ids = tok(texts)["input_ids"]
    return [ids[i % len(ids)][: 2 + (3 * i) % 11] for i in range(n)]


@pytest.fixture(scope="module")
def tiny_gpt2(tiny):
    """Absolute position embeddings: left padding is only right if positions come from the mask."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tiny.tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128)
    cfg.pad_token_id = tiny.tokenizer.pad_token_id
    return GPT2LMHeadModel(cfg).eval()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_decode_equals_generate_tiny_left_padding(tiny, tiny_gpt2, arch):
    model = tiny.model if arch == "llama" else tiny_gpt2
    prompts = _mixed_prompts(tiny.tokenizer, TEXTS, 9)
    assert len({len(p) for p in prompts}) > 3  # mixed lengths: real left padding
    ref = generate_one_by_one(model, prompts, 12)
    for bs in (1, 4, 9):
        got = decode(model, prompts, 12, pad_id=tiny.tokenizer.pad_token_id, batch_size=bs).tokens
        assert got == ref
    assert all(len(t) == 12 for t in ref)


def test_batched_decode_equals_generate_micro_lab(micro_lab):
    lm = load_model(ModelSpec(str(micro_lab / "model"), device="cpu"))
    texts = [json.loads(x)["text"] for x in (micro_lab / "members.jsonl").read_text().splitlines()[:12]]
    prompts = _mixed_prompts(lm.tokenizer, texts, 12)
    ref = generate_one_by_one(lm.model, prompts, 16)
    got = decode(lm.model, prompts, 16, pad_id=lm.tokenizer.pad_token_id, batch_size=5).tokens
    assert got == ref


def test_decode_keeps_going_past_eos(tiny):
    """Exactly m tokens: an EOS is an ordinary token (no stop, no suppression)."""
    eos = tiny.tokenizer.eos_token_id

    def always_eos(logits, step, rows):
        return torch.full((logits.shape[0],), eos)

    out = decode(tiny.model, [[eos], [eos, 5]], 5, pad_id=tiny.tokenizer.pad_token_id, choose=always_eos)
    assert out.tokens == [[eos] * 5, [eos] * 5]


# ---------------------------------------------------------------- metrics


def test_match_metrics_by_hand():
    assert levenshtein(list("kitten"), list("sitting")) == 3
    assert levenshtein([], [1, 2]) == 2
    assert similarity([1, 2, 3, 4], [1, 9, 3, 4]) == pytest.approx(0.75)
    assert similarity([1, 2, 3, 4], [2, 3, 4, 5]) == pytest.approx(0.5)  # one deletion + one insertion
    assert token_match([1, 2, 3, 4], [2, 3, 4, 5]) == 0.0  # shifted: no position agrees
    assert longest_run([1, 2, 3, 4], [2, 3, 4, 5]) == 3  # ... but a 3-token run is shared
    assert longest_run([1, 2, 9, 3, 4, 5], [0, 3, 4, 5, 1, 2]) == 3
    m = match_metrics([5, 6, 7, 8], [5, 6, 0, 8])
    assert m["exact"] is False and m["token_match"] == 0.75 and m["matched_prefix"] == 2 and m["longest_run"] == 2
    assert match_metrics([1, 2], [1, 2])["exact"] is True


def test_bleu_by_hand():
    # p1 = 5/6; add-one smoothed p2 = (3+1)/(5+1), p3 = (2+1)/(4+1), p4 = (1+1)/(3+1); BP = 1
    assert bleu([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 9, 6]) == pytest.approx((5 / 6 * 4 / 6 * 3 / 5 * 1 / 2) ** 0.25)
    # clipping: four 7s against one 7 -> p1 = 1/4; p2 = 1/4, p3 = 1/3, p4 = 1/2
    assert bleu([7, 7, 7, 7], [7, 1, 2, 3]) == pytest.approx((1 / 4 * 1 / 4 * 1 / 3 * 1 / 2) ** 0.25)
    # brevity penalty exp(1 - r/c); a 3-token candidate has no 4-gram: p4 = (0 + 1) / (1 + 1), as in NLTK
    assert bleu([1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.5**0.25 * math.exp(1 - 4 / 3))
    assert bleu([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert bleu([8, 9], [1, 2]) == 0.0


# ---------------------------------------------------------------- items


def test_prefix_counts_text_tokens_after_bos_and_skips_short(tiny):
    tok = tiny.tokenizer
    items, short = token_items(tok, [str(i) for i in range(len(TEXTS))], TEXTS, 4, 6)
    assert short == 1  # "item 7"
    plain = tok(TEXTS[0], add_special_tokens=False)["input_ids"]
    it = items[0]
    assert it.prefix[-4:] == tuple(plain[:4]) and it.target == tuple(plain[4:10])
    assert len(it.prefix) == 4 + len(tok("x")["input_ids"]) - len(tok("x", add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------- exposure


def _brute_logliks(model, prefix, cands):
    out = []
    with torch.no_grad():
        for c in cands:
            x = torch.tensor([prefix + c])
            lp = torch.log_softmax(model(x).logits[0].double(), -1)
            out.append(sum(float(lp[len(prefix) - 1 + t, c[t]]) for t in range(len(c))))
    return np.array(out)


def test_exposure_exact_rank_equals_brute_force(tiny):
    tok, model = tiny.tokenizer, tiny.model
    secret = " 12"
    cands = [f" {a}{b}" for a, b in itertools.product("0123456789", repeat=2)]
    ids = tok(cands, add_special_tokens=False)["input_ids"]
    prefix = tok("The colour of item")["input_ids"]
    brute = _brute_logliks(model, prefix, ids)
    for use_cache in (True, False):
        fast = candidate_logliks(model, prefix, ids, tok.pad_token_id, batch_size=7, use_cache=use_cache)
        np.testing.assert_allclose(fast, brute, atol=1e-4)
    res = canary_exposure(model, tok, "The colour of item", secret, ExposureConfig())
    rank = 1 + int((brute > brute[cands.index(secret)]).sum())
    assert res["method"] == "exact" and res["space_size"] == 100 and res["rank"] == rank
    assert res["exposure"] == pytest.approx(math.log2(100) - math.log2(rank))


def test_candidate_logliks_mixed_lengths_and_list_space(tiny):
    tok, model = tiny.tokenizer, tiny.model
    words = [" item", " is", " 12", " yes.", " What is it?", " colour of item 3", " A", " 7"]
    ids = tok(words, add_special_tokens=False)["input_ids"]
    assert len({len(x) for x in ids}) >= 3 and min(len(x) for x in ids) == 1  # incl. an empty parent
    prefix = tok("Q: The size")["input_ids"]
    brute = _brute_logliks(model, prefix, ids)
    for use_cache in (True, False):
        got = candidate_logliks(model, prefix, ids, tok.pad_token_id, batch_size=3, use_cache=use_cache)
        np.testing.assert_allclose(got, brute, atol=1e-4)
    res = canary_exposure(model, tok, "Q: The size", " is", ExposureConfig(space="list", candidates=tuple(words)))
    assert res["space_size"] == len(words) and res["rank"] == 1 + int((brute > brute[1]).sum())


def test_mid_rank_and_exposure_formula():
    ll = np.array([-1.0, -2.0, -2.0, -3.0])
    assert mid_rank(ll, 0) == 1.0 and mid_rank(ll, 1) == 2.5 and mid_rank(ll, 3) == 4.0
    assert mid_rank(np.zeros(10), 3) == 5.5  # all tied: middle rank, not the top
    assert exposure_from_rank(1, 10_000) == pytest.approx(math.log2(10_000))


def test_exposure_estimate_close_to_exact(lab):
    row = json.loads((shipped_lab_dir().parent / "canaries.jsonl").read_text().splitlines()[0])
    exact = canary_exposure(lab.model, lab.tokenizer, row["prefix"], row["secret"], ExposureConfig())
    est = canary_exposure(
        lab.model, lab.tokenizer, row["prefix"], row["secret"], ExposureConfig(method="estimate", n_estimate=400)
    )
    assert est["method"] == "estimate" and 0 <= est["exposure"] <= math.log2(10_000)
    assert abs(est["exposure"] - exact["exposure"]) < 2.0
    rng = np.random.default_rng(0)
    log_cdf, _ = fit_log_cdf(rng.normal(10, 2, 2000), 10.0)
    assert math.exp(log_cdf) == pytest.approx(0.5, abs=0.05)


# ---------------------------------------------------------------- n-gram index


def test_ngram_index_hits_and_misses():
    docs = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10], [0, 0, 0]]
    idx = NgramIndex.build(docs, 3, ["a", "b", "c"])
    hit = idx.lookup([42, 3, 4, 5, 43])
    assert hit.verbatim and hit.hits == 1 and hit.windows == 3 and hit.doc == "a"
    assert idx.lookup([8, 9, 10]).doc == "b"
    assert idx.lookup([0, 0, 0, 0]).hits == 2  # token 0 counts
    assert not idx.lookup([5, 6, 7, 8]).verbatim  # spans two documents: not corpus text
    assert not idx.lookup([3, 5, 4]).verbatim  # order matters
    short = idx.lookup([1, 2])  # shorter than n: no window, not verbatim
    assert short.windows == 0 and not short.verbatim
    assert len(NgramIndex.build([[1, 2]], 3)) == 0


# ---------------------------------------------------------------- untargeted


def test_sampler_independent_of_batching(tiny):
    pad = tiny.tokenizer.pad_token_id
    prompts = [[tiny.tokenizer.bos_token_id]] * 6
    a = decode(tiny.model, prompts, 8, pad_id=pad, batch_size=6, choose=Sampler(top_k=20, seed=3)).tokens
    b = decode(tiny.model, prompts, 8, pad_id=pad, batch_size=4, choose=Sampler(top_k=20, seed=3)).tokens
    c = decode(tiny.model, prompts, 8, pad_id=pad, batch_size=6, choose=Sampler(top_k=20, seed=4)).tokens
    assert a == b and a != c and len({tuple(x) for x in a}) > 1
    z = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert torch.isinf(filter_logits(z, 2, None)).tolist() == [[True, False, True, False]]
    assert torch.isinf(filter_logits(z, None, 0.5)).tolist() == [[True, False, True, True]]


def test_untargeted_finds_its_own_samples_verbatim(tiny, tmp_path):
    cfg = UntargetedConfig(n_samples=6, sample_len=12, ngram=6, top_ns=(3, 10), unit_size=4)
    first = run_untargeted(tiny.model, tiny.tokenizer, TEXTS, RunDir(tmp_path / "a", {}), cfg)
    assert first["n_samples"] == 6 and set(first["by_ranking"]) == {"perplexity", "zlib"}
    rows = [json.loads(x) for x in (tmp_path / "a" / "samples" / "untargeted.jsonl").read_text().splitlines()]
    corpus = [{"id": f"doc{i}", "text": r["text"]} for i, r in enumerate(rows)]
    again = run_untargeted(
        tiny.model, tiny.tokenizer, corpus, RunDir(tmp_path / "b", {}), cfg, reference_model=tiny.model
    )
    assert again["verbatim"] == 6 and again["by_ranking"]["zlib"]["top3"] == 3
    assert again["by_ranking"]["reference"]["top10_n"] == 6
    recs = [json.loads(x) for x in (tmp_path / "b" / "records.jsonl").read_text().splitlines()]
    assert any(r["metric"] == "verbatim_rate" and r["value"] == 1.0 for r in recs)


# ---------------------------------------------------------------- runner and resume


def test_run_extraction_writes_outputs_and_resumes_without_duplicates(tiny, tmp_path, monkeypatch):
    cfg = ExtractionConfig(prefix_len=4, suffix_len=6, prefix_lens=(2, 4), unit_size=2)
    rows = [{"id": f"t{i}", "text": t, "repeats": 1 + i % 2} for i, t in enumerate(TEXTS)]
    real = ext_runner.score_items
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed in the middle of the run
        return real(*args, **kwargs)

    monkeypatch.setattr(ext_runner, "score_items", dying)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tiny.model, tiny.tokenizer, rows, RunDir(tmp_path / "r", {"x": 1}), cfg)
    samples = tmp_path / "r" / "samples" / "extraction.jsonl"
    assert len(samples.read_text().splitlines()) == 4  # two complete units
    with open(samples, "a") as fh:
        fh.write('{"id": "t9", "prefix_len"')  # a line cut by the kill
    monkeypatch.setattr(ext_runner, "score_items", real)
    res = run_extraction(tiny.model, tiny.tokenizer, rows, RunDir(tmp_path / "r", {"x": 1}), cfg)
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    keys = [(r["id"], r["prefix_len"]) for r in lines]
    assert len(keys) == len(set(keys)) == 8  # 4 long-enough texts x 2 prefix lengths, none twice
    fresh = run_extraction(tiny.model, tiny.tokenizer, rows, RunDir(tmp_path / "fresh", {"x": 1}), cfg)
    assert res == fresh
    assert res["skipped_short"] == 1 and res["n"] == 4 and res["prefix_len"] == 4
    assert set(res["by_prefix_len"]) == {"2", "4"} and "exact_extraction_rate@2" in res
    assert set(res["by_repeats"]) == {"1", "2"}
    direct = extraction_scores(tiny.model, tiny.tokenizer, rows, 4, 6, batch_size=3)
    assert [d["token_match"] for d in direct] == [r["token_match"] for r in lines if r["prefix_len"] == 4]
    recs = [json.loads(x) for x in (tmp_path / "r" / "records.jsonl").read_text().splitlines()]
    head = [r for r in recs if r["task"] == "extraction" and r["metric"] == "exact_extraction_rate"]
    assert len(head) == 1 and head[0]["family"] == "extraction" and head[0]["n"] == 4 and head[0]["ci"]
    assert {r["task"] for r in recs} >= {"extraction@prefix_len=2", "extraction@repeats=1"}


# ---------------------------------------------------------------- bad input


def test_bad_inputs_have_clear_errors(tiny, tmp_path):
    m, tok = tiny.model, tiny.tokenizer
    run = RunDir(tmp_path / "bad", {})
    with pytest.raises(InputError, match="empty"):
        run_extraction(m, tok, [], run, ExtractionConfig())
    with pytest.raises(ConfigError, match="context is 128"):
        run_extraction(m, tok, TEXTS, run, ExtractionConfig(prefix_len=100, suffix_len=40))
    with pytest.raises(InputError, match=r"prefix_len \+ suffix_len = 30 \+ 30 = 60"):
        run_extraction(m, tok, TEXTS, run, ExtractionConfig(prefix_len=30, suffix_len=30))
    with pytest.raises(InputError, match="'secret'"):
        run_exposure(m, tok, [{"id": "c", "prefix": "The code is"}], run, ExposureConfig())
    with pytest.raises(ConfigError, match="no digits"):
        run_exposure(m, tok, [{"id": "c", "prefix": "The code is", "secret": " abc"}], run, ExposureConfig())
    with pytest.raises(InputError, match="not found"):
        read_corpus(tmp_path / "missing.jsonl")
    garbage = tmp_path / "corpus.jsonl"
    garbage.write_bytes(b"\xff\xfe\x00binary\x00")
    with pytest.raises(InputError, match="cannot read corpus"):
        read_corpus(garbage)
    with pytest.raises(ConfigError, match="ngram"):
        UntargetedConfig(ngram=80, sample_len=64).validate()


def test_cli_extract_and_exposure(micro_lab, tmp_path):
    from auditor.cli import main

    can = str(micro_lab / "canaries.jsonl")
    model = str(micro_lab / "model")
    out = tmp_path / "ext"
    args = ["-q", "extract", "--model", model, "--data", can, "--prefix-column", "prefix", "--suffix-column", "secret"]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    res = json.loads((out / "extraction.json").read_text())
    assert res["mode"] == "columns" and res["n"] == 8 and set(res["by_repeats"]) == {"1", "4", "16", "48"}
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["-q", "extract", "--model", model, "--data", str(empty), "--out", str(tmp_path / "e")]) == 2
    nosecret = tmp_path / "nosecret.jsonl"
    nosecret.write_text(json.dumps({"id": "a", "prefix": "x"}) + "\n")
    assert main(["-q", "exposure", "--model", model, "--canaries", str(nosecret), "--out", str(tmp_path / "x")]) == 2
    args = ["-q", "exposure", "--model", model, "--canaries", can, "--method", "estimate", "--n-estimate", "200"]
    assert main([*args, "--out", str(tmp_path / "xp"), "--device", "cpu"]) == 0
    xp = json.loads((tmp_path / "xp" / "exposure.json").read_text())
    assert xp["n"] == 8 and {"mean", "max", "by_repeats"} <= set(xp)


# ---------------------------------------------------------------- the standard lab


def test_standard_lab_extraction_and_exposure_rise_with_repeats(lab, tmp_path):
    rows = [json.loads(x) for x in (shipped_lab_dir().parent / "canaries.jsonl").read_text().splitlines()]
    cfg = ExtractionConfig(prefix_column="prefix", suffix_column="secret")
    res = run_extraction(lab.model, lab.tokenizer, rows, RunDir(tmp_path / "lab", {}), cfg)
    rate = {int(k): v["exact_extraction_rate"] for k, v in res["by_repeats"].items()}
    assert rate[1] == 0.0 and rate[64] >= 0.8 and rate[128] >= 0.8
    few = [r for r in rows if r["repeats"] in (1, 128)][::4]  # 2 canaries of each count
    xp = run_exposure(lab.model, lab.tokenizer, few, RunDir(tmp_path / "lab", {}), ExposureConfig())
    assert xp["by_repeats"]["128"]["mean"] > xp["by_repeats"]["1"]["mean"] + 5


def test_two_checkpoints_share_a_run_directory(tiny, tmp_path):
    """Two checkpoints measured into one run directory are two points of the loop, told apart by their label."""
    run = RunDir(tmp_path / "shared", {})
    cfg = ExtractionConfig(prefix_len=4, suffix_len=6)
    a = run_extraction(tiny.model, tiny.tokenizer, TEXTS, run, cfg, checkpoint="a")
    b = run_extraction(tiny.model, tiny.tokenizer, TEXTS, run, cfg, checkpoint="b")
    assert a == b and a["n"] == 4
    assert len((tmp_path / "shared" / "samples" / "extraction.jsonl").read_text().splitlines()) == 8
    recs = [r for r in run.all_records() if r["task"] == "extraction" and r["metric"] == "exact_extraction_rate"]
    assert sorted((r["checkpoint"], r["method"]) for r in recs) == [("a", "dense"), ("b", "dense")]
