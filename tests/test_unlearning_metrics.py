"""MUSE / TOFU unlearning metrics against independent computations: ROUGE-L against ``rouge-score`` and a
hand LCS, VerbMem / KnowMem records against ``model.generate`` + ``rouge_scorer``, truth ratios against a
direct forward pass, forget quality against ``scipy.stats.ks_2samp``, PrivLeak against MUSE's sklearn AUC."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from rouge_score import rouge_scorer
from scipy.stats import hmean, ks_2samp
from sklearn.metrics import auc as sk_auc
from sklearn.metrics import roc_curve

from auditor.family import FamilyContext, Point
from auditor.inputs.data import TextSet
from auditor.models.load import load_model
from auditor.stats.metrics import auc
from auditor.unlearning import tofu
from auditor.unlearning.compare import privleak
from auditor.unlearning.figures import unlearning_tree
from auditor.unlearning.measures import Sets, UnlearningFamily, UnlearningSection
from auditor.unlearning.rouge import MUSE_F1, TOFU_RECALL, cut_at_stops, rouge_l

PAIRS = [
    ("The cat sat on the mat.", "the cat sat"),
    ("The cat sat on the mat.", ""),
    ("", "anything at all"),
    ("", ""),
    ("Hello, world!!!", "hello world"),
    ("...", "!!!"),
    ("1987 in Paris", " 1987"),
    ("a b c d e f", "f e d c b a"),
    ("He was running quickly to the stations", "he runs quick to a station"),
    ("Zürich — café", "zurich cafe"),
]


def _lcs(a: list[str], b: list[str]) -> int:
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def _hand_f1(ref: str, gen: str) -> float:
    """ROUGE-L F1 from scratch: lowercase, non-[a-z0-9] -> space, LCS of the word lists."""
    r, g = (re.sub(r"[^a-z0-9]+", " ", s.lower()).split() for s in (ref, gen))
    lcs = _lcs(r, g)
    if not lcs:
        return 0.0
    p, rc = lcs / len(g), lcs / len(r)
    return 2 * p * rc / (p + rc)


def test_rouge_l_equals_rouge_score_and_a_hand_lcs() -> None:
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    stem = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for ref, gen in PAIRS:
        assert rouge_l(ref, gen, MUSE_F1) == plain.score(ref, gen)["rougeL"].fmeasure
        assert rouge_l(ref, gen, TOFU_RECALL) == stem.score(ref, gen)["rougeL"].recall
        assert rouge_l(ref, gen, MUSE_F1) == pytest.approx(_hand_f1(ref, gen), abs=1e-12)
    assert rouge_l("The cat sat on the mat.", "the cat sat") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert rouge_l("a b c d e f", "f e d c b a") == pytest.approx(1 / 6)
    # the stemmer is what makes TOFU's recall credit "running" ~ "runs"
    ref, gen = PAIRS[8]
    assert rouge_l(ref, gen, TOFU_RECALL) > stem.score(ref, gen)["rougeL"].recall - 1e-12 > 0
    assert rouge_l(ref, gen, TOFU_RECALL) > plain.score(ref, gen)["rougeL"].recall


def test_cut_at_stops_is_muses() -> None:
    assert cut_at_stops(" 1987\n\nQuestion: next") == " 1987"
    assert cut_at_stops("Paris\nQuestion: x") == "Paris"
    assert cut_at_stops("no stop here") == "no stop here"


def test_privleak_is_muses_orientation_and_scale() -> None:
    assert privleak(0.5, 0.5) == 0.0
    assert privleak(0.9, 0.5) == pytest.approx(((1 - 0.9) - 0.5) / 0.5 * 100)  # -80: forget set still detectable
    assert privleak(0.45, 0.5) == pytest.approx(10.0)  # over-unlearned: positive
    assert privleak(0.7, None) is None and privleak(0.7, 1.0) is None
    # MUSE's own computation (muse_bench metrics/privleak.py sweep + eval.py): forget = label 0, holdout =
    # label 1, score -loss, sklearn AUC; our AUC takes forget as members with higher = more member-like.
    rng = np.random.default_rng(0)
    hold = rng.normal(0, 1, 50)
    forget, retrain_forget = rng.normal(0.8, 1, 40), rng.normal(0.1, 1, 40)

    def muse_auc(member_like: np.ndarray) -> float:
        loss = -np.concatenate([member_like, hold])  # MUSE's Min-K% is a loss: higher = non-member
        y = np.r_[np.zeros(member_like.size), np.ones(hold.size)]
        fpr, tpr, _ = roc_curve(y, -loss)
        return float(sk_auc(fpr, tpr))

    a, a_r = muse_auc(forget), muse_auc(retrain_forget)
    assert privleak(auc(forget, hold), auc(retrain_forget, hold)) == pytest.approx((a - a_r) / a_r * 100)


def test_truth_ratio_options_and_fallback() -> None:
    rows = [
        {"prompt": "Q1", "answer": " a", "paraphrased_answer": " A.", "perturbed_answer": [" b", " c"]},
        {"prompt": "Q2", "answer": " b"},
        {"prompt": "Q3", "answer": " B", "paraphrased_answer": " bb", "perturbed_answers": " z"},
        {"prompt": "Q4", "answer": " d"},
    ]
    o = tofu.options(rows)
    assert o.correct == (" A.", " b", " bb", " d")
    assert o.wrong[0] == (" b", " c") and o.wrong[2] == (" z",)
    assert o.wrong[1] == (" d", " a")  # next rows cyclically, " B" equals " b" up to case
    assert o.wrong[3] == (" a", " b")  # " B" dropped as a repeat of " b"
    assert (o.n_fallback, o.source) == (2, "mixed")
    assert tofu.options(rows[:1]).source == "tofu" and tofu.options(rows[1:2]).source == "fallback"
    assert tofu.forget_truth_ratio([0.5, 2.0, math.nan]) == pytest.approx(0.5)
    assert tofu.retain_truth_ratio([0.25, 2.0]) == pytest.approx((0.75 + 0) / 2)
    assert tofu.model_utility([0.5, 0.25, None]) is None
    assert tofu.model_utility([0.5, 0.25, 1.0]) == pytest.approx(3 / (2 + 4 + 1))


# --- the family's records on a tiny model, against independent computations ---

QA = [
    {"id": "q1", "prompt": "The colour of item 3 is", "answer": " 8.", "paraphrased_answer": " 8",
     "perturbed_answer": [" 5.", " 12.", " 9."]},
    {"id": "q2", "prompt": "Q: What is it? A:", "answer": " yes.", "paraphrased_answer": " yes",
     "perturbed_answer": [" no.", " maybe."]},
    {"id": "q3", "prompt": "The size of item 4 is", "answer": " 2."},
    {"id": "q4", "prompt": "The shape of item 5 is", "answer": " 9."},
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (conftest.py)


FORGET = [
    f"The {w} of item {i} is {i * 7 % 13}. Q: What is it? A: yes. The size is {i}."
    for w, i in (("colour", 1), ("size", 2), ("shape", 3), ("colour", 40))
]


def _train(model: torch.nn.Module, tok, texts: list[str], steps: int = 80) -> None:
    """A few full-batch AdamW steps: enough for the tiny model to reproduce the texts' template."""
    enc = tok(texts, padding=True, return_tensors="pt")
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path) -> dict:
    """The tiny model trained on the forget texts and the template (``retrain``: it speaks the language, so
    ROUGE is far from 0) and a perturbed copy (``npo``), sharing the tokenizer."""
    lm = load_model(str(tiny_model_dir))
    torch.manual_seed(0)
    docs = [
        f"The {w} of item {i} is {i * 7 % 13}. Q: What is it? A: yes." for i in range(14) for w in ("colour", "size")
    ]
    with torch.enable_grad():
        lm.model.requires_grad_(True)
        _train(lm.model, lm.tokenizer, FORGET + docs)
        lm.model.requires_grad_(False)
    other = copy.deepcopy(lm.model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return {"retrain": lm.model, "npo": other, "tokenizer": lm.tokenizer}


def _sets(tok) -> Sets:
    texts = [*FORGET, "short"]
    forget = TextSet([f"f{i}" for i in range(len(texts))], texts, "forget")
    retain = TextSet(["r1", "r2"], [texts[0] + " More.", texts[1] + " More."], "retain")
    holdout = TextSet(["h1", "h2"], ["The weight of item 9 is 3.", "A: no. Q: why?"], "holdout")
    s = UnlearningSection(prefix_len=6, suffix_len=8, knowmem_max_new_tokens=6)
    return Sets(forget, retain, holdout, [dict(q) for q in QA], [dict(q) for q in QA[:3]], s)


def _generate(model, tok, ids: list[int], n: int) -> str:
    out = model.generate(
        torch.tensor([ids]),
        max_new_tokens=n,
        do_sample=False,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return tok.decode(out[0, len(ids) :].tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=True)


def _verbmem_by_hand(model, tok, texts: list[str], k: int, m: int) -> list[float]:
    scorer, out = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False), []
    for t in texts:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        if len(ids) < k + m:
            continue
        lead = tok(t, add_special_tokens=True)["input_ids"][: -len(ids)]
        ref = tok.decode(ids[k : k + m], skip_special_tokens=True, clean_up_tokenization_spaces=True)
        out.append(scorer.score(ref, _generate(model, tok, lead + ids[:k], m))["rougeL"].fmeasure)
    return out


def _mean_logp(model, tok, prompt: str, answer: str) -> float:
    p = tok(prompt, add_special_tokens=True)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([p + a])).logits[0].double(), -1)
    return float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(a)) / len(a))


def _truth_ratio_by_hand(model, tok, row: dict, rows: list[dict]) -> float:
    if "perturbed_answer" in row:
        para, pert = row["paraphrased_answer"], row["perturbed_answer"]
    else:  # the fallback: gold answer; the other rows' answers, next first
        i = rows.index(row)
        para, pert = row["answer"], [rows[(i + j) % len(rows)]["answer"] for j in range(1, len(rows))]
    wrong = [_mean_logp(model, tok, row["prompt"], w) for w in pert]
    return math.exp(sum(wrong) / len(wrong) - _mean_logp(model, tok, row["prompt"], para))


def _records(models: dict, label: str, tmp_path: Path) -> list[dict]:
    tok = models["tokenizer"]
    ctx = FamilyContext(models[label], tok, Point(label), 0.0, tmp_path / label, batch_size=2)
    recs = UnlearningFamily().run(ctx, _sets(tok))
    return [{**r.__dict__, "checkpoint": label} for r in recs]


def test_records_equal_independent_computations(models: dict, tmp_path: Path) -> None:
    tok, sets = models["tokenizer"], _sets(models["tokenizer"])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rows = {lb: _records(models, lb, tmp_path) for lb in ("retrain", "npo")}
    by_hand: dict[str, list[float]] = {}
    for lb, recs in rows.items():
        got, m = {r["task"]: r["value"] for r in recs}, models[lb]
        verb = _verbmem_by_hand(m, tok, sets.forget.texts, 6, 8)
        assert len(verb) == 4 and got["verbmem_forget"] == pytest.approx(np.mean(verb), abs=1e-12)
        assert 0.3 < got["verbmem_forget"] and 0 < got["knowmem_forget"] < 1  # not a trivial 0 == 0
        gen = [cut_at_stops(_generate(m, tok, tok(q["prompt"])["input_ids"], 6)) for q in QA]
        f1 = [rouge_l(q["answer"], g) for q, g in zip(QA, gen, strict=True)]
        assert got["knowmem_forget"] == pytest.approx(np.mean(f1), abs=1e-12)
        tr = [_truth_ratio_by_hand(m, tok, q, QA) for q in QA]
        by_hand[lb] = tr
        assert got["truth_ratio_forget"] == pytest.approx(np.mean(np.minimum(tr, 1 / np.array(tr))), rel=1e-5)
        tr_r = [_truth_ratio_by_hand(m, tok, q, QA[:3]) for q in QA[:3]]
        prob = np.mean([math.exp(_mean_logp(m, tok, q["prompt"], q["answer"])) for q in QA[:3]])
        rec = np.mean([scorer.score(q["answer"], g)["rougeL"].recall for q, g in zip(QA[:3], gen, strict=False)])
        parts = [prob, rec, np.mean(np.maximum(0, 1 - np.array(tr_r)))]
        assert [got[k] for k in ("prob_retain", "rouge_recall_retain", "truth_ratio_retain")] == pytest.approx(
            parts, rel=1e-5
        )
        assert got["model_utility"] == pytest.approx(hmean(parts) if min(parts) > 0 else 0.0, rel=1e-5)
        extra = next(r["extra"] for r in recs if r["task"] == "truth_ratio_forget")
        assert extra["truth_ratios"] == pytest.approx(tr, rel=1e-5)
        assert (extra["truth_ratio_data"], extra["n_fallback"]) == ("mixed", 2)
    table = unlearning_tree(rows["retrain"] + rows["npo"])
    assert table["retrain"]["forget_quality"] == pytest.approx(1.0)
    expected = ks_2samp(by_hand["npo"], by_hand["retrain"]).pvalue
    assert table["npo"]["forget_quality"] == pytest.approx(expected)
    assert table["retrain"]["privleak"] == 0.0
    assert table["npo"]["privleak"] == pytest.approx(
        privleak(table["npo"]["forget_auc"], table["retrain"]["forget_auc"])
    )


def test_report_shows_forget_quality_and_names_the_fallback(tmp_path: Path) -> None:
    from auditor.report.build import write_report
    from auditor.report.figures import collect_figures
    from auditor.store.runs import Record, RunDir

    run = RunDir(tmp_path / "unl", {"mia_attack": "min_k@0.4", "onion_margin": 0.1})
    ratios = {"base": [0.1, 0.2, 0.15, 0.3], "retrain": [0.9, 1.2, 0.7, 1.0], "npo": [0.8, 1.1, 0.2, 0.95]}
    for lb, tr in ratios.items():
        extra = {"truth_ratios": tr, "truth_ratio_data": "fallback"}
        ratio = tofu.forget_truth_ratio(tr)
        recs = [
            Record("unlearning", "truth_ratio_forget", "value", ratio, extra=extra, checkpoint=lb),
            Record("unlearning", "forget_auc", "value", 0.5, checkpoint=lb),
        ]
        run.write(f"measure/{lb}", recs)
    unl = collect_figures(run.path)[0]["unlearning"]
    for lb, tr in ratios.items():
        assert unl[lb]["forget_quality"] == pytest.approx(ks_2samp(tr, ratios["retrain"]).pvalue)
    assert unl["base"]["forget_quality"] < 0.05 < unl["npo"]["forget_quality"]
    md = write_report(run.path).with_suffix(".md").read_text()
    assert "forget quality" in md and "PrivLeak %" in md and "Truth ratio fallback" in md
