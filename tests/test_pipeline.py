"""The one loop: every family at every point of a sweep, resumed after a kill without loss or duplicates."""

from __future__ import annotations

import json

import pytest

import auditor.probes.extraction.family as extraction_family
from auditor.config import load_config
from auditor.families import FAMILIES
from auditor.family import Point, PointSamples
from auditor.pipeline.loop import plan
from auditor.pipeline.sweep import SweepConfig, run_sweep
from auditor.store.runs import UnitLog

FAMS = ["mia", "extraction", "exposure", "fact_recall", "icl_classification"]


def _cfg(micro_lab, out, extra=()):
    return load_config(
        SweepConfig,
        None,
        [
            f"model={micro_lab / 'model'}",
            f"lab={micro_lab}",
            f"out={out}",
            "methods=[magnitude, wanda]",
            "sparsities=[0.3, 0.6]",
            f"families=[{', '.join(FAMS)}]",
            "mia.attacks=[loss, zlib]",
            "mia.n_boot=50",
            "extraction.prefix_lens=[4, 8]",
            "extraction.suffix_len=8",
            "exposure.max_enumerate=1000",
            "capability.limit=16",
            "calibration.n_samples=8",
            "calibration.seq_len=32",
            "device=cpu",
            *extra,
        ],
    )


def _records(out):
    return [r for r in UnitLog(out / "records.jsonl").rows() if not r.get("_empty")]


def test_plan_puts_dense_first_and_skips_zero():
    steps = plan(["mia"], ["magnitude"], [0.5, 0.0, 0.2], ["mia", "exposure"])
    assert [(s.method, s.sparsity, s.families) for s in steps] == [
        ("dense", 0.0, ("mia",)),
        ("magnitude", 0.2, ("mia", "exposure")),
        ("magnitude", 0.5, ("mia", "exposure")),
    ]


def test_registry_knows_every_family_and_lm_eval_pattern():
    for name in [*FAMS, "untargeted", "open_book", "overriding", "lab", "unlearning"]:
        assert FAMILIES.get(name).name == name
    assert FAMILIES.get("lm_eval:memaudit_fact_recall").needs == frozenset({"lm_eval"})
    with pytest.raises(Exception, match="did you mean 'exposure'"):
        FAMILIES.get("exposur")


def test_point_samples_keep_points_apart(tmp_path):
    log = UnitLog(tmp_path / "s.jsonl")
    a, b = PointSamples(log, Point("m")), PointSamples(log, Point("m", "magnitude", 0.5))
    a.append("u", [{"id": 1}])
    b.append("u", [{"id": 2}])
    assert a.has("u") and b.has("u") and not PointSamples(log, Point("m", "wanda", 0.5)).has("u")
    assert [r["id"] for r in a.rows()] == [1] and [r["id"] for r in b.rows()] == [2]
    assert b.rows()[0]["method"] == "magnitude" and b.rows()[0]["sparsity"] == 0.5


@pytest.mark.slow
def test_sweep_runs_every_family_at_every_point_and_resumes(micro_lab, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    cfg = _cfg(micro_lab, out)
    real = extraction_family.extraction_result
    calls = {"n": 0}

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:  # inside the third point's extraction family (two calls per point: texts, canaries)
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(extraction_family, "extraction_result", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg)
    partial = _records(out)
    monkeypatch.setattr(extraction_family, "extraction_result", real)
    run_sweep(cfg)
    recs = _records(out)
    assert len(recs) > len(partial)
    keys = [(r["method"], r["requested_sparsity"], r["family"], r["task"], r["metric"]) for r in recs]
    assert len(keys) == len(set(keys))  # nothing duplicated
    points = {(r["method"], r["requested_sparsity"]) for r in recs}
    expected = {("dense", 0.0), ("magnitude", 0.3), ("magnitude", 0.6), ("wanda", 0.3), ("wanda", 0.6)}
    assert points == expected
    for p in expected:
        fams = {r["family"] for r in recs if (r["method"], r["requested_sparsity"]) == p}
        assert fams == set(FAMS), p
        tasks = {r["task"] for r in recs if (r["method"], r["requested_sparsity"]) == p and r["family"] == "extraction"}
        assert {"extraction@prefix_len=4", "extraction@prefix_len=8", "extraction_canaries"} <= tasks
    # per-example rows: one per text per point, never duplicated by the resume
    rows = UnitLog(out / "samples" / "mia_scores.jsonl").rows()
    per_point = {}
    for r in rows:
        per_point.setdefault((r["method"], r["sparsity"]), []).append((r["id"], r["label"]))
    assert set(per_point) == expected
    sizes = {len(v) for v in per_point.values()}
    assert len(sizes) == 1 and all(len(v) == len(set(v)) for v in per_point.values())
    # exposure is measured at every point and lies in its possible range, [0, log2(#candidates)] (Carlini et al.
    # 2019); whether 60% magnitude pruning lowers it on a 390k-parameter model is an empirical claim that does
    # not hold on every build of the micro lab (2.91 vs 2.70 bits on one), so it is not asserted here
    exp = {
        (r["method"], r["requested_sparsity"]): r["value"]
        for r in recs
        if r["task"] == "exposure" and r["metric"] == "exposure"
    }
    top = {(r["method"], r["requested_sparsity"]): r["value"] for r in recs if r["metric"] == "max_possible"}
    assert set(exp) == expected and all(0 <= exp[p] <= top[p] for p in expected)
    summary = json.loads((out / "sweep.json").read_text())
    assert len(summary["points"]) == 5 and summary["records"] == len(recs)
    n = len(UnitLog(out / "records.jsonl").rows())
    run_sweep(cfg)  # everything done: nothing appended
    assert len(UnitLog(out / "records.jsonl").rows()) == n


@pytest.mark.parametrize(
    ("families", "message"),
    [
        ("mia", "mia.members: give a file"),
        ("extraction", "extraction.data: give a file"),
        ("exposure", "exposure.canaries: give a canaries file"),
        ("untargeted", "untargeted.corpus: give a file"),
        ("lab", "'lab' needs lab: FOLDER"),
        ("exposur", "did you mean 'exposure'"),
    ],
)
def test_missing_family_data_fails_in_one_line_before_the_model_loads(tmp_path, families, message):
    """The model path does not exist: the family's data check must come first."""
    from auditor.cli import main
    from auditor.errors import AuditorError

    overrides = [f"model={tmp_path / 'no-such-model'}", f"families=[{families}]", f"out={tmp_path / 'o'}"]
    with pytest.raises(AuditorError, match=message):
        run_sweep(load_config(SweepConfig, None, overrides))
    assert not (tmp_path / "o").exists()  # nothing written
    args = ["sweep", "--model", str(tmp_path / "no-such-model"), "--families", families, "--out", str(tmp_path / "o")]
    assert main(args) == 2


def test_the_shipped_lab_model_brings_its_own_data():
    cfg = load_config(SweepConfig, None, ["model=lab", "families=[mia, extraction, exposure]"])
    assert cfg.lab == "standard"
    assert load_config(SweepConfig, None, ["model=lab", "lab=/x", "families=[mia]"]).lab == "/x"
