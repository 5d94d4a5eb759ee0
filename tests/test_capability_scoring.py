"""How a capability task is scored is declared on the task (lm-eval's ``output_type``), and the curves under
pruning with Jin et al. 2024's 5% thresholds are computed once, for ``capability.json`` and the report alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.capability.analysis import capability_json, write_capability
from auditor.capability.builders import CapabilityConfig, build_task
from auditor.capability.curves import by_family, capability_curves, pruned, threshold_gaps
from auditor.capability.evaluate import SCORERS, evaluate_task
from auditor.capability.lmeval import CONFIGS, task_configs
from auditor.capability.schema import (
    FAMILIES,
    GENERATE_UNTIL,
    MULTIPLE_CHOICE,
    OUTPUT_TYPES,
    Task,
    TaskItem,
    to_row,
    write_rows,
)
from auditor.capability.userfile import load_user_task
from auditor.report.figures import capability_curves as report_curves
from auditor.report.plots import plot_capability
from auditor.stats.metrics import threshold_5pct
from auditor.store.runs import Record, RunDir

LAB = Path(__file__).resolve().parents[1] / "auditor" / "lab" / "standard"
ITEM = TaskItem("q1", "fact_recall", "2 ->", (" A",), ("1 -> A", "9 -> B"), "Classify:", (" A", " B"))


def test_every_family_declares_its_scoring_and_every_mode_is_handled() -> None:
    assert tuple(OUTPUT_TYPES) == FAMILIES and set(OUTPUT_TYPES.values()) == set(SCORERS) == set(CONFIGS)
    for fam in FAMILIES:
        task = build_task(fam, CapabilityConfig(source="lab", limit=3), LAB)
        assert task.output_type == OUTPUT_TYPES[fam] and len(task.items) == 3, fam
    assert build_task("icl_classification", CapabilityConfig(limit=3)).output_type == MULTIPLE_CHOICE


def test_configs_and_rows_follow_the_output_type_not_the_family_name(tmp_path: Path) -> None:
    gen = Task("t", "fact_recall", (ITEM,))
    choice = Task("t", "fact_recall", (ITEM,), output_type=MULTIPLE_CHOICE)
    assert gen.output_type == GENERATE_UNTIL  # lm-eval's default too
    assert [(c["task"], c["output_type"]) for c in task_configs(gen, "d.jsonl")] == [("memaudit_t", GENERATE_UNTIL)]
    assert [(c["task"], c["output_type"]) for c in task_configs(choice, "d.jsonl")] == [
        ("memaudit_t", MULTIPLE_CHOICE),
        ("memaudit_t_0shot", MULTIPLE_CHOICE),
    ]
    assert "prompt_0shot" not in to_row(ITEM) and to_row(ITEM, MULTIPLE_CHOICE)["prompt_0shot"] == "Classify:\n2 ->"
    row = json.loads(write_rows(tmp_path / "t.jsonl", choice).read_text())
    assert row["prompt_0shot"] == "Classify:\n2 ->" and row["gold"] == 0
    with pytest.raises(ValueError, match="needs choices on every item"):
        Task("t", "fact_recall", (TaskItem("x", "fact_recall", "Q:", (" a",)),), output_type=MULTIPLE_CHOICE)
    with pytest.raises(ValueError, match="unknown output_type 'loglikelihood'"):
        Task("t", "fact_recall", (ITEM,), output_type="loglikelihood")  # type: ignore[arg-type]


def test_native_evaluator_scores_by_output_type(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    gen = evaluate_task(model, tok, Task("t", "fact_recall", (ITEM,)), max_new_tokens=3, batch_size=2)
    choice = evaluate_task(model, tok, Task("t", "fact_recall", (ITEM,), output_type=MULTIPLE_CHOICE), batch_size=2)
    assert "accuracy_0shot" not in gen.extras and set(gen.items[0]) == {"id", "prediction", "correct"}
    assert {"accuracy_0shot", "gain_over_0shot", "accuracy_calibrated"} <= set(choice.extras)
    assert choice.items[0]["prediction"] in ITEM.choices and "correct_0shot" in choice.items[0]


def test_user_choice_rows_with_a_prompt_and_a_choices_list(tmp_path: Path) -> None:
    p = tmp_path / "mc.jsonl"
    p.write_text('{"id": "f", "prompt": "P ->", "answer": "B", "choices": ["A", "B"]}\n')
    [x] = load_user_task(p, "icl_classification")
    assert (x.family, x.choices, x.gold, x.prompt(0)) == ("icl_classification", (" A", " B"), 1, "P ->")
    task = build_task("icl_classification", CapabilityConfig(files={"icl_classification": str(p)}))
    assert task.output_type == MULTIPLE_CHOICE and task.name == "file_mc"


def _records() -> list[Record]:
    """Dense, magnitude at 0.3 / 0.5 / 0.7 (0.7's accuracy skipped, value None) and wanda at 0.5."""
    cap = {"capability": True}
    points = {("dense", 0.0): (0.8, 0.9), ("magnitude", 0.3): (0.78, 0.9), ("magnitude", 0.5): (0.5, 0.88)}
    points |= {("magnitude", 0.7): (None, 0.5), ("wanda", 0.5): (0.7, 0.86)}
    out = []
    for (method, s), (fr, icl) in points.items():
        tags = {"method": method, "sparsity": s * 0.98, "requested_sparsity": s}
        ci = None if fr is None else (fr - 0.05, fr + 0.05)
        out.append(Record("fact_recall", "lab_fact_recall", "accuracy", fr, n=100, ci=ci, extra=cap, **tags))
        out.append(
            Record("icl_classification", "lab_icl", "accuracy", icl, n=80, ci=(icl - 0.1, 1.0), extra=cap, **tags)
        )
        out.append(Record("icl_classification", "lab_icl", "accuracy_0shot", 0.5, n=80, extra=cap, **tags))
        out.append(Record("lab", "fact_recall", "value", 0.1, **tags))  # the lab's own figure, not a capability one
    return out


def test_curves_are_computed_once_for_the_json_and_the_report(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run", {"model": "tiny"})
    for r in _records():
        run.write(f"{r.method}/{r.requested_sparsity}/{r.family}/{r.metric}", [r])
    cap = write_capability(run.path)
    plot_capability(cap, run.path / "curves.png")  # drawn by the report's plotter, from the same JSON
    assert (run.path / "curves.png").stat().st_size > 10_000
    assert json.loads((run.path / "capability.json").read_text()) == cap
    rows = [json.loads(x) for x in (run.path / "records.jsonl").read_text().splitlines()]
    curves = capability_curves(rows)
    assert {k: v for k, v in cap.items() if k != "_meta"} == curves
    fr, icl = curves["magnitude"]["fact_recall"], curves["magnitude"]["icl_classification"]
    assert fr["sparsity"] == [0.0, 0.3, 0.5] and fr["actual_sparsity"] == pytest.approx([0.0, 0.294, 0.49])
    assert fr["threshold_5pct"] == threshold_5pct(fr["sparsity"], fr["accuracy"]) == 0.3  # 0.78 >= 0.76 > 0.5
    assert icl["sparsity"] == [0.0, 0.3, 0.5, 0.7] and icl["threshold_5pct"] == 0.5 and icl["dense_above_0shot"]
    gaps = {"magnitude": {"icl_classification": 0.2}, "wanda": {"icl_classification": 0.5}}
    assert cap["_meta"]["gap_vs_fact_recall"] == threshold_gaps(curves) == gaps
    report = report_curves(rows)  # the report's figures tree reads the same curves, by family
    assert report == by_family(pruned(curves)) and report["fact_recall"]["wanda"]["threshold_5pct"] == 0.0
    dense = [r for r in rows if r.get("method") == "dense"]
    assert set(capability_curves(dense)) == {"dense"} and pruned(capability_curves(dense)) == report_curves(dense) == {}
    assert capability_json(dense)["dense"]["fact_recall"]["sparsity"] == [0.0]
