"""The unlearning comparison's pure parts: overlap checks, PrivLeak, the onion count, config validation, and that
the pipeline's ``unlearning.json`` and the report's onion table come from the one function
(:mod:`auditor.unlearning.compare`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import auditor.unlearning.compare as compare
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.pipeline.unlearn import check_disjoint, comparison
from auditor.pipeline.unlearn_config import UnlearnCompareConfig, Unlearned
from auditor.report.unlearning import onion_rows
from auditor.store.runs import Record, RunDir
from auditor.store.units import UnitLog
from auditor.unlearning.compare import RetainExposure, onion, onion_table, percentiles, summarize


def test_overlap_and_empty_forget_are_errors() -> None:
    f = TextSet(["a", "b", "c"], ["t1", "t2", "t3"], "forget.jsonl")
    r = TextSet(["b", "x", "y"], ["other", "t3", "t4"], "retain.jsonl")
    with pytest.raises(InputError, match=r"overlap \(same id or same text\): b, x;"):
        check_disjoint(f, r)
    check_disjoint(f, TextSet(["z"], ["t9"], "r"))
    with pytest.raises(InputError, match="forget set forget.jsonl is empty"):
        check_disjoint(TextSet([], [], "forget.jsonl"), r)


def _exposure(pct: list[float], verb: list[float]) -> RetainExposure:
    ids = [f"r{i}" for i in range(len(pct))]
    return RetainExposure(dict(zip(ids, pct, strict=True)), dict(zip(ids, verb, strict=True)))


def test_privleak_is_muses_relative_auc_and_zero_for_retrain() -> None:
    figures = {"base": {"forget_auc": 0.9}, "retrain": {"forget_auc": 0.5}, "npo": {"forget_auc": 0.45}}
    ref = _exposure([0.5, 0.5], [0.2, 0.2])
    onions = {
        "retrain": onion(ref, ref, 0.1),
        "npo": onion(ref, _exposure([0.9, 0.5], [0.2, 0.5]), 0.1),
    }
    t = summarize(figures, onions, has_retrain=True)
    assert t["retrain"]["privleak"] == 0.0
    assert t["base"]["privleak"] == pytest.approx(((1 - 0.9) - (1 - 0.5)) / (1 - 0.5) * 100)  # MUSE: -80
    assert t["npo"]["privleak"] == pytest.approx(10.0)  # forget AUC below the retrain's: over-unlearned
    assert t["npo"]["onion"]["more_exposed_mia"] == 1 and t["npo"]["onion"]["more_extractable"] == 1
    assert t["npo"]["onion"]["more_exposed_any"] == 2
    assert "onion" not in t["base"]
    no_ref = summarize({"base": figures["base"], "npo": figures["npo"]}, onions, has_retrain=False)
    assert no_ref["npo"]["privleak"] is None


def test_onion_ignores_small_changes_and_nan() -> None:
    base = _exposure([0.1, 0.2, 0.3], [0.1, math.nan, 0.3])
    after = _exposure([0.15, 0.35, 0.3], [0.15, 0.9, 0.3])
    o = onion(base, after, margin=0.1)
    assert (o["more_exposed_mia"], o["more_extractable"], o["more_exposed_any"]) == (1, 0, 1)
    assert o["n_retain"] == 3 and o["mean_percentile_change"] == pytest.approx((0.05 + 0.15 + 0.0) / 3)


def test_onion_matches_texts_by_id() -> None:
    """Texts measured on one checkpoint only are left out; a text without VerbMem counts as not measured."""
    base = RetainExposure({"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 0.0, "b": 0.0})
    after = RetainExposure({"c": 0.9, "b": 0.2, "z": 1.0}, {"b": 0.8, "c": 1.0, "z": 1.0})
    o = onion(base, after, margin=0.1)
    assert (o["n_retain"], o["more_exposed_mia"], o["more_extractable"], o["more_exposed_any"]) == (2, 1, 1, 2)
    assert o["mean_percentile_change"] == pytest.approx((0.0 + 0.6) / 2)


def test_percentiles_against_holdout() -> None:
    p = percentiles(np.array([0.0, 2.5, 10.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert p.tolist() == [0.0, 0.5, 1.0]
    assert percentiles([1.0], []).tolist() == [0.0]


def _samples(label: str, retain: list[float], holdout: list[float], verbatim: list[float]) -> list[dict]:
    tags = {"checkpoint": label, "method": "dense", "sparsity": 0.0}
    rows = [{"kind": "mia", "set": "retain", "id": f"r{i}", "value": v} for i, v in enumerate(retain)]
    rows += [{"kind": "mia", "set": "holdout", "id": f"h{i}", "value": v} for i, v in enumerate(holdout)]
    rows += [{"kind": "verbatim", "set": "retain", "id": f"r{i}", "value": v} for i, v in enumerate(verbatim)]
    return [{**r, **tags} for r in rows]


SAMPLES = {
    "base": _samples("base", [1.0, 2.0, 3.0, 0.0], [0.5, 1.5, 2.5, 3.5], [0.1, 0.2, 0.3, math.nan]),
    "retrain": _samples("retrain", [1.0, 2.0, 3.0, 0.0], [0.5, 1.5, 2.5, 3.5], [0.1, 0.2, 0.3, 0.0]),
    "npo": _samples("npo", [3.0, 2.0, 0.0, 4.0], [0.5, 1.5, 2.5, 3.5], [0.5, 0.25, 0.3, 0.9]),
}


def test_onion_table_by_hand() -> None:
    """Percentiles among the holdout (fraction <= score), by hand: base [.25, .5, .75, 0], npo [.75, .5, 0, 1]."""
    rows = [r for part in SAMPLES.values() for r in part]
    t = onion_table(rows, list(SAMPLES), margin=0.1)
    assert set(t) == {"retrain", "npo"}
    assert t["retrain"] == dict.fromkeys(compare.ONION_KEYS, 0) | {"n_retain": 4}
    npo = t["npo"]
    assert (npo["more_exposed_mia"], npo["more_extractable"], npo["more_exposed_any"]) == (2, 1, 2)
    assert npo["mean_percentile_change"] == pytest.approx((0.5 + 0.0 - 0.75 + 1.0) / 4)
    pruned = [{**r, "method": "magnitude", "value": 9.0} for r in SAMPLES["npo"]]
    assert onion_table(rows + pruned, list(SAMPLES), margin=0.1) == t  # the dense point's samples only


def test_pipeline_and_report_onion_come_from_one_function(tmp_path: Path, monkeypatch) -> None:
    """``unlearning.json``'s onion counts (:func:`auditor.pipeline.unlearn.comparison`) and the report's onion
    table (:func:`auditor.report.unlearning.onion_rows`) are the same numbers, both counted by
    :func:`auditor.unlearning.compare.onion_counts`."""
    run = RunDir(tmp_path / "unl", {"mia_attack": "min_k@0.4", "onion_margin": 0.1})
    for lb, auc in (("base", 0.9), ("retrain", 0.5), ("npo", 0.6)):
        run.write(f"measure/{lb}", [Record("unlearning", "forget_auc", "value", auc, checkpoint=lb)])
    log = UnitLog(run.path / "samples" / "unlearning.jsonl")
    for lb, rows in SAMPLES.items():
        log.append(f"{lb}::per-text", rows)
    calls: list[int] = []
    counts = compare.onion_counts

    def spy(*args: object, **kw: object) -> dict:
        calls.append(1)
        return counts(*args, **kw)

    monkeypatch.setattr(compare, "onion_counts", spy)
    cfg = UnlearnCompareConfig(base="b", forget="f", retain="r", holdout="h", retrain="rt", methods=("npo",))
    table = comparison(run, list(SAMPLES), cfg)["checkpoints"]
    assert len(calls) == 2
    samples = [r for part in SAMPLES.values() for r in part]
    rows = onion_rows(samples, list(SAMPLES), 0.1)
    assert len(calls) == 4
    assert rows == [[lb, *[table[lb]["onion"][k] for k in compare.ONION_KEYS]] for lb in ("retrain", "npo")]
    assert table["npo"]["privleak"] == pytest.approx(((1 - 0.6) - 0.5) / 0.5 * 100)
    assert "onion" not in table["base"] and table["retrain"]["privleak"] == 0.0


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
    # micro lab builds of seeds 0-2: verbmem 0.58-0.66 -> 0.00-0.11, holdout perplexity 4.8-5.1 -> 43-62
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


def test_an_unlearned_checkpoint_is_reused_only_for_its_own_recipe(tmp_path: Path) -> None:
    """A run that failed before its first record binds no identity: a checkpoint it left under RUN/unlearned/
    is reused only by a command with the same method settings and inputs, never by a corrected one."""
    import json

    from auditor.pipeline.unlearn import _needs_unlearning, _recipe_file

    folder = tmp_path / "run" / "unlearned" / "npo"
    assert _needs_unlearning(folder, "a")  # nothing there yet
    folder.mkdir(parents=True)
    (folder / "unlearning.json").write_text("{}")
    _recipe_file(folder).write_text(json.dumps({"recipe": "a"}))
    assert not _needs_unlearning(folder, "a")
    assert _needs_unlearning(folder, "b")  # other settings (e.g. method_config.lr): unlearn again
    _recipe_file(folder).unlink()
    assert _needs_unlearning(folder, "a")  # made before its recipe was written, in a run that measured nothing
    (tmp_path / "run" / "records.jsonl").write_text('{"family": "unlearning"}\n')
    assert not _needs_unlearning(folder, "a")  # a run with results: its identity vouches for the checkpoint
    assert json.loads(_recipe_file(folder).read_text()) == {"recipe": "a"}
