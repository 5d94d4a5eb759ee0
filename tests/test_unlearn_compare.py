"""The unlearning comparison's pure parts: overlap checks, PrivLeak, the onion count, config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.pipeline.unlearn import UnlearnCompareConfig, Unlearned, _percentiles, check_disjoint, onion, summarize


def test_overlap_and_empty_forget_are_errors() -> None:
    f = TextSet(["a", "b", "c"], ["t1", "t2", "t3"], "forget.jsonl")
    r = TextSet(["b", "x", "y"], ["other", "t3", "t4"], "retain.jsonl")
    with pytest.raises(InputError, match=r"overlap \(same id or same text\): b, x;"):
        check_disjoint(f, r)
    check_disjoint(f, TextSet(["z"], ["t9"], "r"))
    with pytest.raises(InputError, match="forget set forget.jsonl is empty"):
        check_disjoint(TextSet([], [], "forget.jsonl"), r)


def test_privleak_is_muses_relative_auc_and_zero_for_retrain() -> None:
    per = {
        "base": {"forget_auc": 0.9, "retain_percentiles": [0.5, 0.5], "retain_verbatim": [0.2, 0.2]},
        "retrain": {"forget_auc": 0.5, "retain_percentiles": [0.5, 0.5], "retain_verbatim": [0.2, 0.2]},
        "npo": {"forget_auc": 0.45, "retain_percentiles": [0.9, 0.5], "retain_verbatim": [0.2, 0.5]},
    }
    t = summarize(per, has_retrain=True, margin=0.1)
    assert t["retrain"]["privleak"] == 0.0
    assert t["base"]["privleak"] == pytest.approx(((1 - 0.9) - (1 - 0.5)) / (1 - 0.5) * 100)  # MUSE: -80
    assert t["npo"]["privleak"] == pytest.approx(10.0)  # forget AUC below the retrain's: over-unlearned
    assert t["npo"]["onion"]["more_exposed_mia"] == 1 and t["npo"]["onion"]["more_extractable"] == 1
    assert t["npo"]["onion"]["more_exposed_any"] == 2
    assert "onion" not in t["base"]
    no_ref = summarize({"base": per["base"], "npo": per["npo"]}, has_retrain=False, margin=0.1)
    assert no_ref["npo"]["privleak"] is None


def test_onion_ignores_small_changes_and_nan() -> None:
    base = {"retain_percentiles": [0.1, 0.2, 0.3], "retain_verbatim": [0.1, math.nan, 0.3]}
    after = {"retain_percentiles": [0.15, 0.35, 0.3], "retain_verbatim": [0.15, 0.9, 0.3]}
    o = onion(base, after, margin=0.1)
    assert (o["more_exposed_mia"], o["more_extractable"], o["more_exposed_any"]) == (1, 0, 1)


def test_percentiles_against_holdout() -> None:
    p = _percentiles(np.array([0.0, 2.5, 10.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert p.tolist() == [0.0, 0.5, 1.0]


def test_config_validation() -> None:
    kw = {"base": "b", "forget": "f", "retain": "r", "holdout": "h"}
    with pytest.raises(ConfigError, match="nothing to compare"):
        UnlearnCompareConfig(**kw)
    with pytest.raises(ConfigError, match="duplicate checkpoint label"):
        UnlearnCompareConfig(**kw, unlearned=(Unlearned("npo", "x"),), methods=("npo",))
    with pytest.raises(ConfigError, match=r"outside \[0, 1\)"):
        UnlearnCompareConfig(**kw, methods=("npo",), resurfacing_sparsities=(1.0,))


@pytest.mark.slow
def test_compare_end_to_end_on_micro_lab_resumes(micro_lab, tmp_path) -> None:
    """Base = retrain = the micro lab model, plus gradient ascent: PrivLeak of the retrain is 0, the unlearned
    model's forget NLL rises, the report renders, and a rerun adds no records."""
    import json

    from auditor.lab.build import forget_qa
    from auditor.pipeline.unlearn import load_compare_config, run_compare
    from auditor.report.build import write_report

    rows = [json.loads(x) for x in (micro_lab / "members.jsonl").read_text().splitlines()]
    for name, part in (("forget", rows[:8]), ("retain", rows[8:24])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
        (tmp_path / f"{name}_qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in forget_qa(part)))
    model = str(micro_lab / "model")
    overrides = [
        f"base={model}",
        f"retrain={model}",
        f"forget={tmp_path / 'forget.jsonl'}",
        f"retain={tmp_path / 'retain.jsonl'}",
        f"holdout={micro_lab / 'nonmembers.jsonl'}",
        f"forget_qa={tmp_path / 'forget_qa.jsonl'}",
        f"retain_qa={tmp_path / 'retain_qa.jsonl'}",
        "methods=[gradient_ascent]",
        "method_config={lr: 1e-3, steps: 4}",
        "resurfacing_sparsities=[0.5]",
        f"out={tmp_path / 'run'}",
        "device=cpu",
    ]
    cfg = load_compare_config(None, overrides)
    out = run_compare(cfg)
    res = json.loads((out / "unlearning.json").read_text())
    table = res["checkpoints"]
    assert set(table) == {"base", "retrain", "gradient_ascent"}
    assert table["retrain"]["privleak"] == pytest.approx(0.0)
    assert table["base"]["forget_auc"] == pytest.approx(table["retrain"]["forget_auc"])
    assert table["gradient_ascent"]["verbmem_forget"] < table["base"]["verbmem_forget"]
    assert table["gradient_ascent"]["holdout_ppl"] > table["base"]["holdout_ppl"]
    assert table["retrain"]["forget_quality"] == pytest.approx(1.0)  # TOFU: KS p-value against itself
    assert 0 < table["base"]["model_utility"] <= 1 and 0 <= table["base"]["knowmem_forget"] <= 1
    assert set(res["resurfacing"]["base"]) == {"magnitude@0.5"}
    html = write_report(out).read_text()
    assert "PrivLeak" in html and "gradient_ascent" in html and "forget quality" in html
    assert "Truth ratio fallback" in html  # the lab's QA rows carry no paraphrased / perturbed answers
    n = len((out / "records.jsonl").read_text().splitlines())
    run_compare(load_compare_config(None, overrides))
    assert len((out / "records.jsonl").read_text().splitlines()) == n


def test_a_checkpoint_with_another_tokenizer_is_refused() -> None:
    from types import SimpleNamespace

    from auditor.pipeline.unlearn import check_same_tokenizer

    other = SimpleNamespace(tokenizer=SimpleNamespace(get_vocab=lambda: {"a": 0, "b": 1}))
    check_same_tokenizer({"a": 0, "b": 1}, other, "same")  # no error
    with pytest.raises(InputError, match="'npo-7b' has a different tokenizer from the base"):
        check_same_tokenizer({"a": 0, "c": 1}, other, "npo-7b")
