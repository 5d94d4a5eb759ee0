"""The gate: rule parsing, dotted paths, baselines, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import ConfigError, InputError
from auditor.report.gate import check, parse_rule, resolve
from auditor.runs import Record, RunDir

FIGS = {
    "mia": {"min_k_pp@0.2": {"auc": 0.55, "tpr@1%fpr": 0.02}, "loss": {"auc": 0.8}},
    "extraction": {"exact_extraction_rate@32": 0.0, "by_repeats": {"1": {"exact_extraction_rate": 0.0}}},
    "exposure": {"max": 12.5, "mean": 3.0},
    "capability": {"fact_recall": {"accuracy": 0.81, "threshold_5pct": {"magnitude": 0.3}}},
}


def test_resolve_dotted_keys_longest_match() -> None:
    assert resolve(FIGS, "mia.min_k_pp@0.2.auc") == 0.55
    assert resolve(FIGS, "extraction.exact_extraction_rate@32") == 0.0
    assert resolve(FIGS, "extraction.by_repeats.1.exact_extraction_rate") == 0.0
    assert resolve(FIGS, "capability.fact_recall.threshold_5pct.magnitude") == 0.3
    with pytest.raises(InputError, match="nothing under mia matches 'min_k@0.2.auc'; available: loss, min_k_pp@0.2"):
        resolve(FIGS, "mia.min_k@0.2.auc")
    with pytest.raises(InputError, match="is a group"):
        resolve(FIGS, "mia.loss")


def test_parse_rule_forms_and_errors() -> None:
    r = parse_rule("capability.fact_recall.accuracy >= 0.9 * baseline")
    assert (r.path, r.op, r.relative, r.mul, r.add) == ("capability.fact_recall.accuracy", ">=", True, 0.9, 0.0)
    r = parse_rule("exposure.max<20")
    assert (r.path, r.op, r.add, r.relative) == ("exposure.max", "<", 20.0, False)
    r = parse_rule("mia.loss.auc <= baseline + 0.05")
    assert r.relative and r.mul == 1.0 and r.add == pytest.approx(0.05)
    for bad in ("exposure.max == 3", "exposure.max <= lots", "exposure.max", "<= 3"):
        with pytest.raises(ConfigError):
            parse_rule(bad)


def test_check_pass_fail_and_baseline() -> None:
    base = {"capability": {"fact_recall": {"accuracy": 1.0}}}
    rules = [parse_rule(r) for r in ("exposure.max <= 20", "capability.fact_recall.accuracy >= 0.9 * baseline")]
    res = check(rules, FIGS, base)
    assert [r.passed for r in res] == [True, False]
    assert res[1].threshold == pytest.approx(0.9) and res[1].baseline == 1.0
    with pytest.raises(InputError, match="no baseline checkpoint"):
        check(rules, FIGS, None)


def _run(tmp_path: Path) -> Path:
    """A run directory holding FIGS as records (docs/records.md): no per-probe JSON files."""
    run = RunDir(tmp_path / "run", {})
    records = [
        Record("mia", "min_k_pp@0.2", "auc", 0.55),
        Record("mia", "min_k_pp@0.2", "tpr@1%fpr", 0.02),
        Record("mia", "loss", "auc", 0.8),
        Record("extraction", "extraction@prefix_len=32", "exact_extraction_rate", 0.0, extra={"prefix_len": 32}),
        Record("extraction", "extraction@repeats=1", "exact_extraction_rate", 0.0, extra={"repeats": 1}),
        Record("exposure", "exposure@max", "exposure", 12.5),
        Record("exposure", "exposure", "exposure", 3.0),
    ]
    run.write("dense", records)
    return run.path


def _policy(tmp_path: Path, rules: list[str]) -> str:
    p = tmp_path / "policy.yaml"
    p.write_text("rules:\n" + "".join(f"  - {json.dumps(r)}\n" for r in rules))
    return str(p)


def test_gate_cli_exit_codes(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    ok = _policy(tmp_path, ["mia.min_k_pp@0.2.auc <= 0.6", "exposure.max <= 20"])
    assert main(["gate", str(run), "--policy", ok]) == 0
    out = capsys.readouterr().out
    assert "PASS  mia.min_k_pp@0.2.auc = 0.55 <= 0.6" in out and "gate: PASS (2/2 rules)" in out
    gate = json.loads((run / "gate.json").read_text())
    assert gate["passed"] is True and len(gate["rules"]) == 2

    bad = _policy(tmp_path, ["mia.min_k_pp@0.2.auc <= 0.6", "mia.loss.auc <= 0.6"])
    assert main(["gate", str(run), "--policy", bad]) == 1
    assert "FAIL  mia.loss.auc = 0.8 <= 0.6" in capsys.readouterr().out
    assert json.loads((run / "gate.json").read_text())["passed"] is False

    # a bad policy, a missing figure, a missing run: exit 2 with one line
    assert main(["gate", str(run), "--policy", _policy(tmp_path, ["mia.loss.auc ~ 3"])]) == 2
    assert main(["gate", str(run), "--policy", _policy(tmp_path, ["mia.nope.auc <= 3"])]) == 2
    assert main(["gate", str(tmp_path / "missing"), "--policy", ok]) == 2
    assert main(["gate", str(run), "--policy", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "OP one of" in err and "matches 'nope.auc'" in err and "not found" in err
