"""The figures tree, the gate and the report built from records and samples only (docs/records.md).

``make_audit_run`` and ``make_sweep_run`` write synthetic run directories the way the pipeline does
(``RunDir.write`` and ``RunDir.samples(...).append``); other report tests reuse them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.report.build import write_report
from auditor.report.figures import checkpoint_figures, collect_figures
from auditor.report.gate import check, format_results, parse_rules
from auditor.store.runs import Record, RunDir

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"
OLD_FILES = ("mia.json", "extraction.json", "exposure.json", "extraction_canaries.json", "capability.json")


def _checkpoint(folder: Path, members: Path, auc: float) -> None:
    """One audit checkpoint: MIA, extraction and exposure at the dense point, with samples."""
    config = {"mia": {"members": str(members), "nonmembers": str(members)}}
    run = RunDir(folder, config, extra_manifest={"checkpoint": {"notes": [f"note {EVIL}"]}})
    tags = {"checkpoint": folder.name, "requested_sparsity": 0.0}
    extra = {"n_members": 2, "n_nonmembers": 1}
    run.write(
        "mia",
        [
            Record("mia", "loss", "auc", auc, n=3, ci=(auc - 0.05, auc + 0.05), extra=extra, **tags),
            Record("mia", "loss", "tpr@1%fpr", 0.1, n=3, extra=extra, **tags),
        ],
    )
    rows = [
        {"id": "m1", "label": 1, "scores": {"loss": 2.0}},
        {"id": "m2", "label": 1, "scores": {"loss": 1.0}},
        {"id": "n1", "label": 0, "scores": {"loss": 0.5}},
    ]
    run.samples("mia_scores").append("mia", [{**r, "checkpoint": folder.name} for r in rows])
    run.write(
        "extraction",
        [
            Record(
                "extraction",
                "extraction@prefix_len=32",
                "exact_extraction_rate",
                0.5,
                n=2,
                extra={"prefix_len": 32},
                **tags,
            ),
            Record(
                "extraction", "extraction@repeats=1", "exact_extraction_rate", 0.0, n=1, extra={"repeats": 1}, **tags
            ),
        ],
    )
    sample = {"id": "m1", "prefix_len": 32, "exact": True, "generated": f"secret {EVIL}", "token_match": 1.0}
    run.samples("extraction").append("extraction", [sample])
    run.write(
        "exposure",
        [
            Record("exposure", "exposure", "exposure", 5.0, n=4, **tags),
            Record("exposure", "exposure@max", "exposure", 13.3, n=4, **tags),
        ],
    )


def make_audit_run(tmp_path: Path) -> Path:
    """An audit directory with two checkpoints (``cand`` primary, ``prev`` baseline) and planted hostile text."""
    members = tmp_path / "members.jsonl"
    members.write_text(
        json.dumps({"id": "m1", "text": f"member one {EVIL}"}) + "\n" + json.dumps({"id": "m2", "text": "two"}) + "\n"
    )
    run = tmp_path / "audit"
    _checkpoint(run / "checkpoints" / "cand", members, 0.9)
    _checkpoint(run / "checkpoints" / "prev", members, 0.7)
    (run / "manifest.json").write_text(json.dumps({"config": {"model": EVIL}}))
    index = {
        "primary": "cand",
        "baseline": "prev",
        "checkpoints": {"cand": "checkpoints/cand", "prev": "checkpoints/prev"},
    }
    (run / "audit.json").write_text(json.dumps(index))
    return run


# (method, requested sparsity) -> (loss AUC, exact extraction rate, canary rate, exposure mean, fact recall, ICL)
SWEEP = {
    ("dense", 0.0): (0.9, 0.4, 0.8, 20.0, 0.8, 0.9),
    ("magnitude", 0.3): (0.8, 0.2, 0.5, 12.0, 0.78, 0.9),
    ("magnitude", 0.5): (0.6, 0.005, 0.1, 4.0, 0.5, 0.88),
    ("wanda", 0.5): (0.7, 0.05, 0.3, 8.0, 0.7, 0.86),
}


def _point_records(method: str, s: float, values: tuple) -> list[Record]:
    auc, ext, can, exp, fr, icl = values
    tags = {"checkpoint": "model", "method": method, "sparsity": s * 0.98, "requested_sparsity": s}
    cap = {"capability": True}
    return [
        Record("mia", "loss", "auc", auc, n=40, ci=(auc - 0.1, auc + 0.05), extra={"n_members": 20}, **tags),
        Record("mia", "min_k@0.2", "auc", auc - 0.05, n=40, **tags),
        Record(
            "extraction",
            "extraction",
            "exact_extraction_rate",
            ext,
            n=50,
            ci=(max(0.0, ext - 0.004), ext + 0.004),  # narrow enough to decide a rule at 0.01
            extra={"prefix_len": 16},
            **tags,
        ),
        Record(
            "extraction",
            "extraction@prefix_len=16",
            "exact_extraction_rate",
            ext,
            n=50,
            extra={"prefix_len": 16},
            **tags,
        ),
        Record(
            "extraction", "extraction@prefix_len=32", "token_match", ext + 0.1, n=50, extra={"prefix_len": 32}, **tags
        ),
        Record(
            "extraction", "extraction@repeats=8", "exact_extraction_rate", ext * 2, n=10, extra={"repeats": 8}, **tags
        ),
        Record("extraction", "extraction_canaries", "exact_extraction_rate", can, n=20, **tags),
        Record("extraction", "extraction_canaries@repeats=4", "exact_extraction_rate", can / 2, n=5, **tags),
        Record("exposure", "exposure", "exposure", exp, n=20, **tags),
        Record("exposure", "exposure", "max_possible", 40.0, n=20, **tags),
        Record("exposure", "exposure@max", "exposure", exp + 10, n=20, **tags),
        Record("exposure", "exposure@repeats=4", "exposure", exp - 1, n=5, extra={"max": exp + 2}, **tags),
        Record("untargeted", "zlib", "verbatim@10", ext, n=10, **tags),
        Record("fact_recall", "lab_facts", "accuracy", fr, n=100, ci=(fr - 0.05, fr + 0.05), extra=cap, **tags),
        Record("icl_classification", "lab_icl", "accuracy", icl, n=100, extra=cap, **tags),
        Record("lab", "canary_exact@>=64", "value", can, **tags),
    ]


def make_sweep_run(path: Path) -> Path:
    """A sweep run directory: the dense point, magnitude at 0.3 and 0.5, wanda at 0.5; no per-probe JSON."""
    run = RunDir(path, {"model": "tiny", "sweep": {"methods": ["magnitude", "wanda"]}})
    for (method, s), values in SWEEP.items():
        run.write(f"{method}/{s}", _point_records(method, s, values))
        rows = [
            {"id": f"m{i}", "label": 1, "scores": {"loss": 1.0 + i - s, "min_k@0.2": 0.5 + i}} for i in range(4)
        ] + [{"id": f"n{i}", "label": 0, "scores": {"loss": 0.5 * i, "min_k@0.2": i}} for i in range(4)]
        tag = {} if method == "dense" else {"method": method, "sparsity": s}
        run.samples("mia_scores").append(f"{method}/{s}", [{**r, "checkpoint": "model", **tag} for r in rows])
        gen = "pruned text" if method != "dense" else f"dense secret {EVIL}"
        ext = [{"id": "x1", "prefix_len": 16, "exact": True, "generated": gen, "target": gen, **tag}]
        run.samples("extraction").append(f"{method}/{s}", ext)
    return path


def test_audit_figures_per_checkpoint_and_baseline(tmp_path: Path) -> None:
    run = make_audit_run(tmp_path)
    figs, base = collect_figures(run)
    assert figs["mia"]["loss"]["auc"] == 0.9 and base is not None and base["mia"]["loss"]["auc"] == 0.7
    assert figs["extraction"]["exact_extraction_rate@32"] == 0.5 and figs["exposure"]["max"] == 13.3
    res = check(parse_rules(["mia.loss.auc <= baseline + 0.1", "exposure.max <= 1.0 * baseline"]), figs, base)
    # 3 texts and 4 canaries, fewer than the default minimum of 10: too few to pass (the exposure rule), but the
    # AUC's whole CI [0.85, 0.95] lies above its threshold 0.8, which fails outright
    assert [r.status for r in res] == ["FAIL", "INCONCLUSIVE"] and [r.n for r in res] == [3, 4]
    res = check(
        parse_rules(["mia.loss.auc <= baseline + 0.1 (n >= 3)", "exposure.max <= 1.0 * baseline (n >= 4)"]), figs, base
    )
    assert [r.status for r in res] == ["FAIL", "PASS"]  # the AUC's whole CI [0.85, 0.95] lies above 0.8


@pytest.fixture()
def sweep_run(tmp_path: Path) -> Path:
    return make_sweep_run(tmp_path / "sweep")


def test_figures_dense_and_points(sweep_run: Path) -> None:
    figs, primary, baseline = checkpoint_figures(sweep_run)
    assert (primary, baseline) == ("run", None)
    f = figs["run"]
    assert f["mia"]["loss"]["auc"] == 0.9 and f["mia"]["loss"]["auc_ci"] == pytest.approx([0.8, 0.95])
    assert f["mia"]["loss"]["n_members"] == 20 and f["mia"]["min_k@0.2"]["auc"] == pytest.approx(0.85)
    ext = f["extraction"]
    assert ext["exact_extraction_rate"] == 0.4 and ext["exact_extraction_rate@16"] == 0.4
    assert ext["token_match@32"] == pytest.approx(0.5) and ext["by_repeats"]["8"]["exact_extraction_rate"] == 0.8
    assert f["extraction_canaries"]["exact_extraction_rate"] == 0.8
    assert f["extraction_canaries"]["by_repeats"]["4"]["exact_extraction_rate"] == 0.4
    assert f["exposure"] == {  # every figure with its n beside it (the records' n)
        "mean": 20.0,
        "mean_n": 20,
        "max_possible": 40.0,
        "max_possible_n": 20,
        "max": 30.0,
        "max_n": 20,
        "n": 20,
        "by_repeats": {"4": {"mean": 19.0, "mean_n": 5, "max": 22.0, "n": 5}},
    }
    assert f["untargeted"]["zlib"]["verbatim@10"] == 0.4
    assert f["lab"]["canary_exact@>=64"] == 0.8
    fr = f["capability"]["fact_recall"]
    assert fr["accuracy"] == 0.8 and fr["accuracy_ci"] == pytest.approx([0.75, 0.85]) and fr["n"] == 100
    # Jin et al.: magnitude keeps fact recall within 5% at 0.3 (0.78 >= 0.76) and not at 0.5
    assert fr["threshold_5pct"] == {"magnitude": 0.3, "wanda": 0.0}
    assert f["capability"]["icl_classification"]["threshold_5pct"] == {"magnitude": 0.5, "wanda": 0.5}
    pts = f["points"]
    assert set(pts) == {"magnitude", "wanda"} and set(pts["magnitude"]) == {"0.3", "0.5"}
    p = pts["magnitude"]["0.5"]
    assert p["extraction"]["exact_extraction_rate@16"] == 0.005 and p["mia"]["loss"]["auc"] == 0.6
    assert p["capability"]["fact_recall"]["accuracy"] == 0.5 and p["actual_sparsity"] == pytest.approx(0.49)
    assert "points" not in p and "threshold_5pct" not in p["capability"]["fact_recall"]


def test_gate_rules_on_points(sweep_run: Path) -> None:
    figs, base = collect_figures(sweep_run)
    assert base is None
    rules = parse_rules(
        [
            "points.magnitude.0.5.extraction.exact_extraction_rate@16 <= 0.01",
            "points.wanda.0.5.extraction.exact_extraction_rate@16 <= 0.01",
            "points.magnitude.0.3.mia.min_k@0.2.auc <= 0.8",
            "capability.fact_recall.threshold_5pct.magnitude >= 0.3",
            "points.magnitude.0.5.extraction.exact_extraction_rate@16 <= 0.0005",
            "points.magnitude.0.5.extraction.exact_extraction_rate@16 <= 0.005",
        ]
    )
    results = check(rules, figs, None)
    # the last: 0.005 <= 0.005, but its CI [0.001, 0.009] straddles the threshold
    assert [r.status for r in results] == ["PASS", "FAIL", "PASS", "PASS", "FAIL", "INCONCLUSIVE"]
    lines = format_results(results)
    assert lines[-2].startswith("FAIL  points.magnitude.0.5.extraction.exact_extraction_rate@16 = 0.005 <= 0.0005")
    assert lines[-1].startswith("INCONCLUSIVE  points.magnitude.0.5.extraction.exact_extraction_rate@16 = 0.005")
    assert "straddles" in lines[-1] and "n = 50 texts" in lines[-1]
    with pytest.raises(InputError, match="nothing under points.magnitude matches '0.4.mia.loss.auc'"):
        check(parse_rules(["points.magnitude.0.4.mia.loss.auc <= 1"]), figs, None)


def test_report_from_records_only(sweep_run: Path) -> None:
    html = write_report(sweep_run, redact=False).read_text()
    assert not any((sweep_run / name).exists() for name in OLD_FILES)
    # one section per question, in order, each with its parts
    order = [
        "<h2>Summary</h2>",
        "<h2>Memorization</h2>",
        "<h3>Membership inference</h3>",
        "<h3>Extraction and exposure</h3>",
        "<h2>Pruning</h2>",
        "<h3>What pruning removes first</h3>",
        "<h3>Capabilities under pruning</h3>",
        "<h2>Capability</h2>",
        "<h2>All figures</h2>",
    ]
    where = [html.find(h) for h in order]
    assert -1 not in where and where == sorted(where), dict(zip(order, where, strict=True))
    assert "alt='memorization vs capability, run'" in html and "alt='ROC curves, run'" in html
    assert html.count("data:image/png;base64,") >= 3
    assert (sweep_run / "plots" / "run-memorization_vs_capability.png").stat().st_size > 5000
    md = (sweep_run / "report.md").read_text()
    header = "| method | sparsity | MIA AUC (loss) | exact extraction rate | canary extraction rate "
    assert header + "| mean exposure / max possible | fact_recall accuracy | icl_classification accuracy |" in md
    assert "| magnitude | 0.5 | 0.600 | 0.005 | 0.100 | 0.100 | 0.500 | 0.880 |" in md
    assert "| wanda | 0 | 0.900 | 0.400 | 0.800 | 0.500 | 0.800 | 0.900 |" in md
    assert "wanda: Wanda (Sun et al. 2024) as the paper and its reference code run it: block by block" in md
    assert "magnitude: Magnitude pruning" in md  # each method used says which variant it is
    # the dense point's examples only; escaped
    assert "dense secret &lt;script&gt;" in html and "pruned text" not in html


def test_no_pruning_section_with_one_point(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "dense", {"model": "tiny"})
    run.write("dense", _point_records("dense", 0.0, SWEEP[("dense", 0.0)]))
    html = write_report(run.path).read_text()
    assert "What pruning removes first" not in html and "Membership inference" in html
    assert "points" not in collect_figures(run.path)[0]


def _unlearning_run(path: Path) -> Path:
    run = RunDir(path, {"mia_attack": "min_k@0.4", "onion_margin": 0.1})
    forget = {"base": 0.9, "retrain": 0.5, "npo": 0.55}
    for lb, auc in forget.items():
        recs = [
            Record("unlearning", k, "value", v, checkpoint=lb)
            for k, v in (("forget_auc", auc), ("verbmem_forget", auc / 2))
        ]
        recs.append(Record("fact_recall", "lab_facts", "accuracy", 0.9, checkpoint=lb, extra={"capability": True}))
        run.write(f"measure/{lb}", recs)
        tags = {"checkpoint": lb, "method": "magnitude", "sparsity": 0.3, "requested_sparsity": 0.3}
        run.write(f"resurface/{lb}", [Record("unlearning", "verbmem_forget", "value", auc / 3, **tags)])
        rows = [{"kind": "mia", "set": "holdout", "id": f"h{i}", "value": float(i)} for i in range(10)]
        rows += [{"kind": "mia", "set": "retain", "id": "r1", "value": 2.5 if lb == "base" else 8.5}]
        rows += [{"kind": "verbatim", "set": "retain", "id": "r1", "value": 0.5}]
        run.samples("unlearning").append(lb, [{**r, "checkpoint": lb} for r in rows])
    return path


def test_unlearning_from_records(tmp_path: Path) -> None:
    run = _unlearning_run(tmp_path / "unl")
    assert checkpoint_figures(run)[1:] == ("base", None)
    figs, _ = collect_figures(run)
    unl = figs["unlearning"]
    assert set(unl) == {"base", "retrain", "npo"}
    assert unl["retrain"]["privleak"] == 0.0 and unl["npo"]["privleak"] == pytest.approx(-10.0)  # MUSE, %
    assert unl["base"]["fact_recall"] == 0.9
    assert figs["points"]["magnitude"]["0.3"]["unlearning"]["npo"]["verbmem_forget"] == pytest.approx(0.55 / 3)
    md = write_report(run).with_suffix(".md").read_text()
    assert "## Unlearning comparison" in md and "PrivLeak" in md
    assert "| npo | 1 | 1 | 0 | 1 | 0.600 |" in md  # onion: r1's percentile rose from 0.3 to 0.9
    assert "| npo | 0.275 / - | 0.183 / - |" in md  # resurfacing at 0.3
