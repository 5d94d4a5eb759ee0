"""Capability tasks: answer matching, thresholds, builders, ICL episodes, native vs lm-eval, the sweep, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from auditor.capability import real
from auditor.capability.analysis import write_capability
from auditor.capability.builders import CapabilityConfig, build_task
from auditor.capability.curves import capability_curves
from auditor.capability.icl import icl_episode, icl_episodes, rule_label
from auditor.capability.lmeval import check_lm_eval_tasks, shipped_task_names
from auditor.capability.normalize import answer_match, normalize_answer
from auditor.capability.schema import FAMILIES, Task, TaskItem, fit_to_context
from auditor.capability.userfile import load_user_task
from auditor.errors import ConfigError, InputError
from auditor.stats.intervals import proportion_ci
from auditor.stats.metrics import threshold_5pct
from auditor.tasks import tasks_dir


def test_normalization_and_match() -> None:
    assert normalize_answer("  The  Eiffel-Tower! ") == "eiffeltower"  # SQuAD drops punctuation, no space
    assert normalize_answer("An apple, a day") == "apple day"
    assert answer_match(" Paris.\nQ: next", [" Paris"])
    assert answer_match("the Japanese yen", ["Yen", "Japanese yen"])
    assert answer_match("Paris, France", ["paris"])  # starts with, at a word boundary
    assert not answer_match("Parisian", ["Paris"])
    assert not answer_match("\nParis", ["Paris"])  # only the first line counts
    assert not answer_match("Lyon", ["Paris", "Marseille"])
    assert answer_match(" A", [" A"]) and not answer_match(" B", [" A"])  # an article-only answer still matches


def test_threshold_on_hand_made_curves() -> None:
    s = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert threshold_5pct(s, [0.80, 0.79, 0.77, 0.75, 0.5, 0.2]) == 0.2  # 0.75 < 0.76 = 0.95 * 0.8
    assert threshold_5pct(s, [0.80, 0.70, 0.80, 0.80, 0.80, 0.80]) == 0.0  # every point up to s must pass
    assert threshold_5pct(s, [0.5] * 6) == 0.5
    assert threshold_5pct(s, [0.0, 0.1, 0.0, 0.0, 0.0, 0.0]) is None  # no dense ability: undefined
    assert threshold_5pct([0.3, 0.0], [0.76, 0.8]) == 0.3  # order-free, exactly 95% passes
    with pytest.raises(ValueError, match="dense point"):
        threshold_5pct([0.1, 0.2], [0.5, 0.5])


def test_wilson_ci() -> None:
    lo, hi = proportion_ci(8, 10)
    z = 1.959963984540054
    c, h = (0.8 + z * z / 20) / (1 + z * z / 10), z * math.sqrt(0.16 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (lo, hi) == pytest.approx((c - h, c + h)) and (round(lo, 3), round(hi, 3)) == (0.49, 0.943)
    assert proportion_ci(0, 20)[0] == pytest.approx(0.0, abs=1e-12) and proportion_ci(20, 20)[1] == 1.0
    assert proportion_ci(0, 0) == (0.0, 1.0)


def test_real_builders_give_valid_rows() -> None:
    facts = real.real_facts()
    by = {(f.subject, f.relation): f.answers for f in facts}
    assert by[("France", "capital")] == ("Paris",) and "Euro" in by[("France", "currency")]
    assert by[("Gold", "symbol")] == ("Au",) and len([f for f in facts if f.relation == "symbol"]) == 118
    assert {f.relation for f in facts} == {"capital", "currency", "region", "language", "symbol"}
    cfg = CapabilityConfig(shots=3)
    fr = build_task("fact_recall", cfg)
    assert len(fr.items) > 900 and all(len(x.demos) == 3 and x.answers for x in fr.items)
    x = fr.items[0]
    assert all(d.startswith("Q: ") and x.meta["relation"] in real.QUESTIONS for d in x.demos)
    over = build_task("overriding", cfg)
    assert len(over.items) > 500
    for x in over.items:  # the counterfactual never equals a true answer
        assert normalize_answer(x.answers[0]) not in {normalize_answer(m) for m in x.memorized}
        assert "In this story" in x.query
    known = {normalize_answer(a) for f in facts for a in (f.subject, *f.answers)}
    ob = build_task("open_book", cfg)
    assert all(normalize_answer(x.meta["subject"]) not in known for x in ob.items)  # fictional entities
    assert all(x.answers[0].strip() in x.query for x in ob.items)  # the answer is in the context
    assert (
        build_task("fact_recall", CapabilityConfig(limit=7)).items
        == build_task("fact_recall", cfg.__class__(limit=7)).items
    )


def test_icl_episodes_are_deterministic_and_follow_their_rule() -> None:
    eps = icl_episodes(seed=3, n=40, shots=8, dim=2)
    assert eps == icl_episodes(seed=3, n=40, shots=8, dim=2) and eps != icl_episodes(seed=4, n=40, shots=8, dim=2)
    assert icl_episode(3, 17, 8, 2) == eps[17]  # episode i depends on (seed, i) only
    for ep in eps:
        w, b = tuple(ep.meta["w"]), ep.meta["b"]
        for x, demo in zip(ep.meta["examples"], ep.demos, strict=True):
            assert demo.endswith(f"-> {rule_label(tuple(x), w, b, ('A', 'B'))}")
        assert ep.answers[0] == " " + rule_label(tuple(ep.meta["query"]), w, b, ("A", "B"))
        assert {d[-1] for d in ep.demos} == {"A", "B"} and ep.answers[0] in ep.choices
        assert ep.prompt(0) == f"Classify:\n{ep.query}"
    assert sum(ep.answers[0] == " A" for ep in eps) == 20  # balanced query labels


def test_bad_task_files_name_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "qa.jsonl"
    p.write_text('{"id": "a", "question": "Q1?", "answer": "x"}\n{"id": "b", "question": "Q2?"}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:2: missing field 'answer' or 'answers'"):
        load_user_task(p, "fact_recall")
    p.write_text('{"id": "a", "answer": "x"}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:1: missing field 'question' or 'prompt'"):
        load_user_task(p, "fact_recall")
    p.write_text('{"id": "a", "question": "Q?", "answer": "x"}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:1: missing field 'context'"):
        load_user_task(p, "open_book")
    p.write_text('{"id": "a", "question": "Q?", "answers": []}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:1: field 'answers' must be"):
        load_user_task(p, "fact_recall")
    p.write_text('{"id": "a", "question": "Q?", "answer": "x"}\nnot json\n')
    with pytest.raises(InputError, match=r"qa.jsonl:2: not valid JSON"):
        load_user_task(p, "fact_recall")
    with pytest.raises(InputError, match="task file not found"):
        load_user_task(tmp_path / "none.jsonl", "fact_recall")
    p.write_text('{"id": "e", "examples": [[1, "A"], [9, "B"]], "query": 2, "answer": "C", "labels": ["A", "B"]}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:1: answer 'C' is not one of the labels"):
        load_user_task(p, "icl_classification")


def test_unknown_lm_eval_task_and_family_are_clear_errors(monkeypatch) -> None:
    assert "memaudit_real_fact_recall" in shipped_task_names()
    with pytest.raises(
        ConfigError, match=r"lm_eval:memaudit_real_fact_recal: unknown.*did you mean memaudit_real_fact"
    ):
        check_lm_eval_tasks(["memaudit_real_fact_recal"])
    monkeypatch.setattr("auditor.capability.lmeval.all_lm_eval_tasks", lambda: ["hellaswag", "arc_easy"])
    check_lm_eval_tasks(["hellaswag"])
    with pytest.raises(ConfigError, match=r"lm_eval:hellaswog: unknown lm-eval task.*did you mean hellaswag"):
        check_lm_eval_tasks(["hellaswog"])
    from auditor.config import load_config
    from auditor.pipeline.sweep import SweepConfig

    with pytest.raises(ConfigError, match="unknown family 'recall'"):
        load_config(SweepConfig, None, ["model=lab", "families=[recall]"])
    with pytest.raises(ConfigError, match="names no task"):
        load_config(SweepConfig, None, ["model=lab", "families=['lm_eval:']"])
    with pytest.raises(ConfigError, match="capability.source: lab needs lab"):
        load_config(
            SweepConfig, None, ["model=my-model", "families=[fact_recall]", "capability.source=lab"]
        )  # --model lab implies lab: standard


def test_k_shot_longer_than_the_context_is_reduced(tiny_tokenizer) -> None:
    demos = tuple(f"Q: What is the colour of item {i}? A: {i}" for i in range(40))
    item = TaskItem("x", "fact_recall", "Q: What is it? A:", (" yes",), demos)
    fitted, info = fit_to_context(Task("t", "fact_recall", (item,)), tiny_tokenizer, 120)
    assert info["reduced"] == 1 and 0 < info["min_shots"] < 40 and info["requested_shots"] == 40
    assert len(tiny_tokenizer(fitted.items[0].prompt())["input_ids"]) <= 120
    assert fitted.items[0].demos == demos[-info["min_shots"] :]  # the oldest demonstrations go first
    with pytest.raises(InputError, match="item x is longer than the model's context"):
        fit_to_context(Task("t", "fact_recall", (item,)), tiny_tokenizer, 5)


def test_shipped_task_files_are_current_and_packaged() -> None:
    root = tasks_dir()
    for source in ("lab", "real"):
        for fam in FAMILIES:
            assert (root / "lm_eval" / f"memaudit_{source}_{fam}.yaml").exists()
    for y in (root / "lm_eval").glob("memaudit_*.yaml"):
        ref = next(ln.split(": ", 1)[1] for ln in y.read_text().splitlines() if ln.strip().startswith("test:"))
        assert (root.parent / ref).exists(), ref
    shipped = [json.loads(x) for x in (root / "real" / "real_icl_classification.jsonl").read_text().splitlines()]
    fresh = build_task("icl_classification", CapabilityConfig())
    assert [r["prompt"] for r in shipped] == [x.prompt() for x in fresh.items]  # rebuilt with `auditor tasks build`
    shipped_fr = (root / "real" / "real_fact_recall.jsonl").read_text().splitlines()
    assert json.loads(shipped_fr[0])["prompt"] == build_task("fact_recall", CapabilityConfig()).items[0].prompt()
    pyproject = (root.parent / "pyproject.toml").read_text()
    assert '"**/*.yaml", "**/*.jsonl", "**/*.json"' in pyproject and (root / "lm_eval" / "__init__.py").exists()


@pytest.mark.slow
def test_native_and_lm_eval_agree_per_item(micro_lab: Path, tmp_path: Path) -> None:
    from auditor.capability.evaluate import evaluate_task
    from auditor.capability.lmeval import run_lm_eval, write_lm_eval_tasks
    from auditor.models.load import ModelSpec, load_model

    lm = load_model(ModelSpec(str(micro_lab / "model"), device="cpu"))
    cfg = CapabilityConfig(limit=40)
    tasks = [build_task(f, cfg, micro_lab) for f in ("fact_recall", "overriding", "icl_classification")]
    names = write_lm_eval_tasks(tasks, tmp_path / "lm_eval")
    res = run_lm_eval(lm.model, lm.tokenizer, names, include_path=tmp_path / "lm_eval", batch_size=8)
    for t in tasks:
        native = evaluate_task(lm.model, lm.tokenizer, t, batch_size=8)
        ours = [row["correct"] for row in native.items]
        theirs = res[f"memaudit_{t.name}"]
        assert [theirs.per_item[i] for i in range(len(ours))] == ours, t.name
        assert theirs.accuracy == pytest.approx(native.accuracy) and theirs.n == native.n
        if t.family == "icl_classification":
            zero = res[f"memaudit_{t.name}_0shot"]
            assert zero.accuracy == pytest.approx(native.extras["accuracy_0shot"])
    assert 0 < sum(res[n].accuracy for n in names) < len(names)  # not a degenerate all-0 / all-1 comparison


@pytest.mark.slow
def test_sweep_writes_capability_json_and_curves(micro_lab: Path, tmp_path: Path) -> None:
    from auditor.config import load_config
    from auditor.pipeline.sweep import SweepConfig, run_sweep

    user = tmp_path / "user.jsonl"
    rows = [json.loads(x) for x in (micro_lab / "open_book.jsonl").read_text().splitlines()]
    q = "What is the {relation} of {subject}?"
    rows = [
        {"id": f"u{i}", "context": r["context"], "question": q.format(**r), "answer": r["answer"]}
        for i, r in enumerate(rows)
    ]
    user.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fams = "[fact_recall, open_book, overriding, icl_classification, 'lm_eval:memaudit_lab_fact_recall']"
    overrides = [f"model={micro_lab / 'model'}", f"lab={micro_lab}", f"out={tmp_path / 'run'}", "device=cpu"]
    overrides += ["methods=[magnitude]", "sparsities=[0.0, 0.5]", f"families={fams}", "capability.limit=24"]
    overrides += [f"capability.files={{open_book: {user}}}", "capability.shots=30"]
    out = run_sweep(load_config(SweepConfig, None, overrides))
    assert (out / "curves.png").stat().st_size > 10_000
    cap = json.loads((out / "capability.json").read_text())
    assert set(cap) == {"magnitude", "_meta"}
    assert set(cap["magnitude"]) == {*FAMILIES, "lm_eval:memaudit_lab_fact_recall"}  # lm-eval's limit: the first 24
    for fam, c in cap["magnitude"].items():
        assert c["sparsity"] == [0.0, 0.5] and len(c["accuracy"]) == len(c["ci"]) == 2 and c["n"] == 24, fam
        assert all(lo <= a <= hi for a, (lo, hi) in zip(c["accuracy"], c["ci"], strict=True))
        assert c["threshold_5pct"] == threshold_5pct(c["sparsity"], c["accuracy"])
    icl = cap["magnitude"]["icl_classification"]
    assert icl["gain_over_0shot"][0] == pytest.approx(icl["accuracy"][0] - icl["accuracy_0shot"][0])
    assert "memorized_rate" in cap["magnitude"]["overriding"]
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    acc = [r for r in recs if r.get("metric") == "accuracy"]
    assert {r["family"] for r in acc} == set(cap["magnitude"]) and all(r["extra"]["capability"] for r in acc)
    assert {(r["method"], r["requested_sparsity"]) for r in acc} == {("dense", 0.0), ("magnitude", 0.5)}
    ob = next(r for r in acc if r["family"] == "open_book")
    assert ob["task"] == "file_user" and ob["extra"]["shots_reduced"] > 0  # 30 shots do not fit 256 positions
    assert write_capability(out) == cap  # the report's rebuild gives the same figures
    n = len(recs)
    run_sweep(load_config(SweepConfig, None, overrides))  # resumed: nothing to do
    assert len((out / "records.jsonl").read_text().splitlines()) == n
    curves = capability_curves([r for r in recs if not r.get("_empty")])
    assert curves["magnitude"]["fact_recall"]["accuracy"] == cap["magnitude"]["fact_recall"]["accuracy"]


@pytest.mark.slow
def test_cli_capability_and_tasks_build(micro_lab: Path, tmp_path: Path, capsys) -> None:
    from auditor.cli import main

    assert (
        main(
            [
                "tasks",
                "build",
                "--source",
                "real",
                "--families",
                "fact_recall",
                "--limit",
                "5",
                "--out",
                str(tmp_path / "t"),
            ]
        )
        == 0
    )
    rows = (tmp_path / "t" / "real" / "real_fact_recall.jsonl").read_text().splitlines()
    assert (
        len(rows) == 5 and str(tmp_path) in (tmp_path / "t" / "lm_eval" / "memaudit_real_fact_recall.yaml").read_text()
    )
    run = tmp_path / "cap"
    args = ["-q", "capability", "--model", str(micro_lab / "model"), "--lab", str(micro_lab), "--limit", "10"]
    assert main([*args, "--families", "fact_recall,icl_classification", "--device", "cpu", "--out", str(run)]) == 0
    assert "| dense | fact_recall |" in capsys.readouterr().out
    cap = json.loads((run / "capability.json").read_text())
    assert set(cap["dense"]) == {"fact_recall", "icl_classification"} and cap["dense"]["fact_recall"]["n"] == 10
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "Q?"}\n')
    assert (
        main(
            [
                *args,
                "--families",
                "fact_recall",
                "--set",
                f"capability.files={{fact_recall: {bad}}}",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "bad.jsonl:1: missing field 'answer' or 'answers'" in capsys.readouterr().err
