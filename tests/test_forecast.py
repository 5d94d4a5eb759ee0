"""``auditor forecast`` (Biderman et al. 2023): the statistics against hand computations (0/0 cases included),
fractions of training seen, and end-to-end runs on tiny models: same-tokenizer refusal, outputs equal to a
recomputation from examples.jsonl, resume after a crash without rescoring a finished model, bad input exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from auditor.cli.main import main
from auditor.errors import ConfigError, InputError
from auditor.forecast.config import ForecastConfig
from auditor.forecast.entries import ModelEntry, checkpoint_fraction, labels, model_entries
from auditor.forecast.predictors import PREDICTORS
from auditor.forecast.stats import forecast_stats, precision_recall, predictor_auc
from auditor.lab.build import SHIPPED_DIR
from auditor.store.runs import log_rows

# ---------------------------------------------------------------- the statistics, by hand

# 10 examples. The early model memorizes 0-3 (4 predicted), the final one 0, 1, 2, 4, 5 (5 true); both: 0-2.
EARLY = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
FINAL = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
# A continuous predictor: the 5 final-memorized examples score 0.9, 0.8, 0.7, 0.3, 0.65 and the 5 others
# 0.65, 0.5, 0.4, 0.2, 0.1. Pairs (memorized > not): 0.9: 5, 0.8: 5, 0.7: 5, 0.3: 2 (> 0.2, 0.1), 0.65: 4 and
# one tie (counts 1/2) -> 21.5 of 25 pairs.
SCORE = [0.9, 0.8, 0.7, 0.65, 0.3, 0.65, 0.5, 0.4, 0.2, 0.1]
#        T    T    T    F     T    T     F    F    F    F   (FINAL)


def test_precision_recall_and_counts_by_hand() -> None:
    r = precision_recall(EARLY, FINAL)
    assert (r["n"], r["n_predicted"], r["n_true"], r["n_both"]) == (10, 4, 5, 3)
    assert r["precision"] == 3 / 4 and r["recall"] == 3 / 5 and r["base_rate"] == 5 / 10
    assert r["notes"] == []


def test_auc_by_hand_with_a_tie_and_its_bootstrap_ci() -> None:
    a = predictor_auc(SCORE, FINAL, n_boot=500, seed=0)
    assert a["auc"] == pytest.approx(21.5 / 25) and (a["n"], a["n_pos"]) == (10, 5)
    lo, hi = a["ci"]
    assert 0.0 <= lo <= a["auc"] <= hi <= 1.0
    # NaN = not measured (a plain text has no exposure): left out. Dropping the 0.3 positive leaves 19.5 / 20.
    nan = list(SCORE)
    nan[4] = math.nan
    b = predictor_auc(nan, FINAL, n_boot=50)
    assert b["auc"] == pytest.approx(19.5 / 20) and (b["n"], b["n_pos"]) == (9, 4)


def test_zero_over_zero_cases_are_none_with_a_note() -> None:
    none_predicted = precision_recall([0] * 10, FINAL)
    assert none_predicted["precision"] is None and none_predicted["recall"] == 0 / 5
    assert "precision undefined" in none_predicted["notes"][0]
    none_true = precision_recall(EARLY, [0] * 10)
    assert none_true["recall"] is None and none_true["precision"] == 0 / 4
    assert "recall undefined" in none_true["notes"][0]
    both = precision_recall([0] * 3, [0] * 3)
    assert both["precision"] is None and both["recall"] is None and len(both["notes"]) == 2
    for labels_, word in (([0] * 10, "none"), ([1] * 10, "all")):
        a = predictor_auc(SCORE, labels_)
        assert a["auc"] is None and a["ci"] is None and word in a["note"]


def test_forecast_stats_joins_both_and_predictor_orientation() -> None:
    nll = [-s for s in SCORE]  # a low NLL predicts memorized: neg_nll must orient it back
    rows = [{"nll": x} for x in nll]
    out = forecast_stats(EARLY, FINAL, {"neg_nll": PREDICTORS.get("neg_nll").values(rows)}, n_boot=100)
    assert out["precision"] == 3 / 4 and out["auc"]["neg_nll"]["auc"] == pytest.approx(21.5 / 25)
    assert np.isnan(PREDICTORS.get("exposure").values([{"exposure": None}, {}])).all()
    with pytest.raises(InputError):
        precision_recall([1, 0], [1, 0, 1])
    with pytest.raises(InputError):
        precision_recall([2, 0], [1, 0])


# ---------------------------------------------------------------- fractions and labels


def test_fraction_from_checkpoint_json_then_fractions_then_unknown(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("a", "b", "c"))
    for d in (a, b, c):
        d.mkdir()
    (a / "checkpoint.json").write_text(json.dumps({"step": 25, "total_steps": 100, "fraction": 0.25}))
    (b / "checkpoint.json").write_text(json.dumps({"step": 30, "total_steps": 120}))  # fraction from the steps
    assert checkpoint_fraction(a) == 0.25 and checkpoint_fraction(b) == 0.25 and checkpoint_fraction(c) is None
    es = model_entries([str(a), str(c)], str(b), [0.25, 0.6], lambda s: Path(s))
    assert [(e.label, e.role, e.fraction, e.fraction_from) for e in es] == [
        ("a", "early", 0.25, "checkpoint.json"), ("c", "early", 0.6, "--fractions"),
        ("b", "final", 0.25, "checkpoint.json")]  # fmt: skip
    es = model_entries([str(c)], "small-model", None, lambda s: None)  # a smaller model: unknown
    assert es[0] == ModelEntry("c", str(c), "early", None, None) and es[1].fraction == 1.0
    (c / "checkpoint.json").write_text("{not json")
    with pytest.raises(InputError, match="checkpoint.json"):
        checkpoint_fraction(c)
    (c / "checkpoint.json").write_text(json.dumps({"fraction": 1.5}))
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        checkpoint_fraction(c)
    for bad, word in (([0.5], "2 --early"), ([0.0, 0.5], r"\(0, 1\]"), ([0.5, 1.2], r"\(0, 1\]")):
        with pytest.raises(ConfigError, match=word):
            model_entries([str(a), str(c)], str(b), bad, lambda s: None)
    with pytest.raises(ConfigError, match="--early"):
        model_entries([], str(b), None, lambda s: None)


def test_labels_are_short_and_unique() -> None:
    assert labels(["/x/ck/step-1/", "/x/ck/step-2", "lab"]) == {"/x/ck/step-1/": "step-1", "/x/ck/step-2": "step-2",
                                                               "lab": "lab"}  # fmt: skip
    assert labels(["/r1/model", "/r2/model"]) == {"/r1/model": "r1/model", "/r2/model": "r2/model"}


def test_table_and_outputs_from_rows_with_unknown_fractions(tmp_path: Path) -> None:
    from auditor.forecast.render import markdown, text_table
    from auditor.forecast.runner import write_outputs
    from auditor.forecast.table import forecast_result

    entries = [ModelEntry("small", "small", "early", None, None), ModelEntry("big", "big", "final", 1.0, "final")]
    rows = [{"model": "small", "id": str(i), "kind": "text", "exact": bool(e), "score": s, "nll": 1.0 - s,
             "el2n": 0.5} for i, (e, s) in enumerate(zip(EARLY, SCORE, strict=True))]  # fmt: skip
    rows += [{"model": "big", "id": str(i), "kind": "text", "exact": bool(f), "score": 1.0, "nll": 0.1, "el2n": 0.1}
             for i, f in enumerate(FINAL)]  # fmt: skip
    res = forecast_result(entries, rows, ForecastConfig(n_boot=100))
    (row,) = res["early"]
    assert (row["precision"], row["recall"], row["fraction"]) == (3 / 4, 3 / 5, None)
    assert row["auc"]["memorization_score"]["auc"] == pytest.approx(21.5 / 25)
    assert row["auc"]["neg_el2n"]["auc"] == 0.5 and "exposure" not in row["auc"]  # constant: chance; no canaries
    assert res["final"]["n_memorized"] == 5
    paths = write_outputs(tmp_path, res)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert "| small | ? | 10 | 4 | 5 | 3 | 0.750 | 0.600 | 0.860 \\[" in markdown(res)  # [ escaped: inert Markdown
    assert text_table(res).splitlines()[2].split()[:8] == ["small", "?", "10", "4", "5", "3", "0.750", "0.600"]


# ---------------------------------------------------------------- the command, end to end


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _perturbed_copy(src: Path, dst: Path, scale: float = 0.02) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale * p.std())
    model.save_pretrained(dst, safe_serialization=True)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


def _auc_pairs(pos: list[float], neg: list[float]) -> float:
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def _recompute(rows: list[dict], early: str, final: str) -> dict:
    """precision, recall, counts and the score / -NLL AUCs from examples.jsonl rows, independently."""
    e = {r["id"]: r for r in rows if r["model"] == early}
    f = {r["id"]: r for r in rows if r["model"] == final}
    ids = [i for i in f if i in e]
    pred = {i for i in ids if e[i]["exact"]}
    true = {i for i in ids if f[i]["exact"]}
    out = {"n": len(ids), "n_predicted": len(pred), "n_true": len(true), "n_both": len(pred & true),
           "precision": len(pred & true) / len(pred) if pred else None,
           "recall": len(pred & true) / len(true) if true else None}  # fmt: skip
    for name, key, sign in (("memorization_score", "score", 1), ("neg_nll", "nll", -1)):
        pos = [sign * e[i][key] for i in ids if i in true]
        neg = [sign * e[i][key] for i in ids if i not in true]
        out[name] = _auc_pairs(pos, neg) if pos and neg else None
    return out


def _self_texts(model_dir: Path, texts: list[str], k: int = 8) -> list[dict]:
    """Texts the model memorizes by construction: k tokens of a text, then the model's own greedy k tokens
    (kept where decoding and re-tokenizing gives the same ids). The micro lab model memorizes no member at
    8 + 8 tokens, so these give the final model a memorized set to forecast."""
    from auditor.lm.decoding import decode
    from auditor.models.load import ModelSpec, load_model
    from auditor.probes.extraction.items import split_special

    lm = load_model(ModelSpec(str(model_dir), device="cpu"))
    split = split_special(lm.tokenizer, texts)
    gen = decode(lm.model, [lead + toks[:k] for lead, toks in split], k, pad_id=lm.tokenizer.pad_token_id).tokens
    out = []
    for n, ((_, toks), g) in enumerate(zip(split, gen, strict=True)):
        text = lm.tokenizer.decode(toks[:k] + list(g[:k]))
        if split_special(lm.tokenizer, [text])[0][1] == toks[:k] + list(g[:k]):
            out.append({"id": f"self-{n}", "text": text})
    return out


@pytest.fixture()
def forecast_data(micro_lab: Path, tmp_path: Path) -> Path:
    """12 micro-lab members, 2 canaries (secrets cut to 2 digits), texts the final model memorizes, and one
    text too short to cut."""
    rows = [json.loads(x) for x in (micro_lab / "members.jsonl").read_text().splitlines()[:12]]
    canaries = [json.loads(x) for x in (micro_lab / "canaries.jsonl").read_text().splitlines()[:2]]
    rows += [{**c, "secret": c["secret"][:3]} for c in canaries]  # 2-digit secrets: exposure over 100 candidates
    rows += _self_texts(micro_lab / "model", [r["text"] for r in rows[:8]])
    assert len(rows) >= 14 + 4, "fewer than 4 self-generated texts survive re-tokenization"  # 8 of 8, seeds 0-2
    rows.append({"id": "short", "text": "Hi."})
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_forecast_end_to_end_resumes_without_rescoring(micro_lab, forecast_data, tmp_path, monkeypatch, capsys):
    import auditor.forecast.runner as runner

    final = micro_lab / "model"
    early = _perturbed_copy(final, tmp_path / "ckpt-half")
    (early / "checkpoint.json").write_text(json.dumps({"step": 5, "total_steps": 10, "fraction": 0.5}))
    out = tmp_path / "fc"
    argv = ["forecast", "--early", str(early), "--final", str(final), "--data",
            str(forecast_data), "--prefix-len", "8", "--suffix-len", "8", "--fractions", "0.5",
            "--device", "cpu", "--out", str(out), "--n-boot", "200"]  # fmt: skip
    loads: list[str] = []
    real_load, real_score = runner.load_model, runner.score_model
    monkeypatch.setattr(runner, "load_model", lambda spec: loads.append(spec.source) or real_load(spec))

    def crash_on_second(*args, **kwargs):  # a crash while the second model (the final one) is being scored
        if len(loads) == 2:
            raise RuntimeError("simulated crash")
        return real_score(*args, **kwargs)

    monkeypatch.setattr(runner, "score_model", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(argv)
    assert loads == [str(early), str(final)] and not (out / "forecast.json").exists()
    assert {r["model"] for r in log_rows(out / "examples.jsonl")} == {"ckpt-half"}

    monkeypatch.setattr(runner, "score_model", real_score)
    loads.clear()
    rc, stdout, _ = _run(argv, capsys)
    assert rc == 0 and loads == [str(final)]  # the finished model is not loaded again
    for name in ("examples.jsonl", "forecast.json", "forecast.md", "forecast.png", "manifest.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rows = log_rows(out / "examples.jsonl")
    n = len(forecast_data.read_text().splitlines()) - 1  # "short" is skipped
    assert len(rows) == len({(r["model"], r["id"]) for r in rows}) == 2 * n  # no duplicate
    res = json.loads((out / "forecast.json").read_text())
    assert res["skipped_short"] == 1 and res["n_examples"] == n and res["final"]["label"] == "model"
    assert [(r["label"], r["fraction"], r["fraction_from"]) for r in res["early"]] == [
        ("ckpt-half", 0.5, "checkpoint.json")]  # fmt: skip
    for r in res["early"]:
        want = _recompute(rows, r["label"], "model")
        assert {k: r[k] for k in ("n", "n_predicted", "n_true", "n_both")} == {
            k: want[k] for k in ("n", "n_predicted", "n_true", "n_both")}  # fmt: skip
        for k in ("precision", "recall"):
            assert r[k] == pytest.approx(want[k]) if want[k] is not None else r[k] is None
        for k in ("memorization_score", "neg_nll"):
            assert r["auc"][k]["auc"] == (pytest.approx(want[k]) if want[k] is not None else None)
    assert res["final"]["n_memorized"] >= 4  # the self-generated texts at least
    canaries = [r for r in rows if r["kind"] == "canary"]
    assert len(canaries) == 4 and all(r["exposure"] is not None and r["space_size"] == 100 for r in canaries)
    assert "exposure" in res["early"][0]["auc"] and set(res["early"][0]["by_kind"]) == {"canary", "text"}
    assert "ckpt-half" in stdout and "precision" in stdout and "forecast.json" in stdout
    member_text = json.loads((micro_lab / "members.jsonl").read_text().splitlines()[0])["text"]
    for text in (stdout, (out / "forecast.md").read_text(), (out / "examples.jsonl").read_text()):
        assert member_text[:30] not in text  # no member text anywhere

    loads.clear()
    rc, _, _ = _run(argv, capsys)
    assert rc == 0 and loads == [] and json.loads((out / "forecast.json").read_text())["early"] == res["early"]
    assert len(log_rows(out / "examples.jsonl")) == 2 * n


def test_models_with_other_tokenizers_are_refused(tiny_model_dir, tmp_path, capsys) -> None:
    out = tmp_path / "fc"
    rc, _, err = _run(["forecast", "--early", str(tiny_model_dir), "--final", "lab", "--data",
                       str(SHIPPED_DIR / "members.jsonl"), "--out", str(out), "--prefix-len", "8",
                       "--suffix-len", "8", "--device", "cpu"], capsys)  # fmt: skip
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "tokenizes the data differently" in err and "same tokenizer" in err
    assert not out.exists()  # refused before the run folder is made and before any model loads


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["--final", "M"], "--early"),  # no --early
        (["--early", "M", "--final", "M", "--data", "MISSING"], "not found"),
        (["--early", "M", "--early", "M", "--final", "M", "--fractions", "0.5"], "one per"),
        (["--early", "M", "--final", "M", "--fractions", "0"], r"(0, 1]"),
        (["--early", "M", "--final", "M", "--fractions", "1.5"], r"(0, 1]"),
        (["--early", "M", "--final", "M", "--fractions", "a,b"], "comma-separated"),
        (["--early", "M", "--final", "M", "--prefix-len", "0"], ">= 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(extra, word, tiny_model_dir, tmp_path, capsys) -> None:
    argv = ["forecast", *[str(tiny_model_dir) if x == "M" else x for x in extra], "--out", str(tmp_path / "fc")]
    if "--data" not in argv:
        argv += ["--data", str(SHIPPED_DIR / "members.jsonl")]
    argv = [str(tmp_path / "missing.jsonl") if x == "MISSING" else x for x in argv]
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and word in err, err


def test_rows_of_no_kind_and_all_too_short_are_refused(tiny_model_dir, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "body": "no text column"}) + "\n")
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"id": "y", "text": "Hi."}) + "\n")
    for data, word in ((bad, "none of the columns"), (short, "too short")):
        rc, _, err = _run(["forecast", "--early", str(tiny_model_dir), "--final", str(tiny_model_dir), "--data",
                           str(data), "--out", str(tmp_path / "fc"), "--device", "cpu"], capsys)  # fmt: skip
        assert rc == 2 and word in err and len(err.strip().splitlines()) == 1, err
