"""The gate: rule parsing, dotted paths, baselines, exit codes 0 / 1 / 2 (INCONCLUSIVE: tests/test_verdict.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import ConfigError, InputError
from auditor.report.figures import figure_range
from auditor.report.gate import check, format_results, gate_summary, parse_rule, resolve
from auditor.store.runs import Record, RunDir

FIGS = {
    "mia": {"min_k_pp@0.2": {"auc": 0.55, "tpr@1%fpr": 0.02}, "loss": {"auc": 0.8, "auc_ci": [0.7, 0.9]}},
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


def test_resolve_ci_bounds() -> None:
    assert resolve(FIGS, "mia.loss.auc") == 0.8  # the plain figure still works beside its interval
    assert resolve(FIGS, "mia.loss.auc.ci_low") == 0.7
    assert resolve(FIGS, "mia.loss.auc.ci_high") == 0.9
    with pytest.raises(InputError, match=r"auc was recorded without a 95% interval \(auc_ci\); drop '.ci_low'"):
        resolve(FIGS, "mia.min_k_pp@0.2.auc.ci_low")
    with pytest.raises(InputError, match=r"mia.loss.auc is a value, not a group; drop '.ci_lo'; did you mean 'ci_low'"):
        resolve(FIGS, "mia.loss.auc.ci_lo")
    with pytest.raises(InputError, match=r"is an interval; address mia.loss.auc.ci_low or mia.loss.auc.ci_high"):
        resolve(FIGS, "mia.loss.auc_ci")
    with pytest.raises(InputError, match=r"nothing under mia.loss matches 'acu.ci_low'; .*did you mean 'auc'\?$"):
        resolve(FIGS, "mia.loss.acu.ci_low")


def test_ci_bound_rule_fails_only_when_the_whole_interval_is_past_the_threshold() -> None:
    rules = [parse_rule(r) for r in ("mia.loss.auc.ci_low <= 0.75", "mia.loss.auc.ci_low <= 0.65")]
    res = check(rules, FIGS, None)
    assert [(r.value, r.passed) for r in res] == [(0.7, True), (0.7, False)]
    assert format_results(res)[1] == "FAIL  mia.loss.auc.ci_low = 0.7 <= 0.65"


def test_figure_ranges() -> None:
    for path in (
        "mia.loss.auc",
        "mia.loss.auc.ci_high",
        "mia.min_k@0.2.tpr@0.1%fpr",
        "exposure.rank1_rate",
        "extraction.exact_extraction_rate@32",
        "capability.fact_recall.accuracy",
        "capability.fact_recall.threshold_5pct.magnitude",
        "points.wanda.0.5.extraction_canaries.token_match",
    ):
        assert figure_range(path) == (0.0, 1.0), path
    assert figure_range("exposure.max", 13.2877) == (0.0, 13.2877)
    assert figure_range("exposure.by_repeats.16.mean") == (0.0, float("inf"))
    assert figure_range("mia.loss.n_members") is None and figure_range("nothing.declared.here") is None


def test_threshold_outside_the_possible_range_warns() -> None:
    figs = {**FIGS, "exposure": {"max": 12.5, "mean": 3.0, "max_possible": 13.2877, "rank1_rate": 0.5}}
    texts = (
        "exposure.max <= 20",
        "exposure.max <= 10",
        "mia.loss.auc.ci_low <= 1",
        "mia.loss.auc >= 1.2",
        "exposure.rank1_rate <= 0",
        "mia.loss.auc > 0.5",
    )
    res = check([parse_rule(t) for t in texts], figs, None)
    assert res[0].passed and res[0].warning == (
        "WARN  exposure.max <= 20: exposure.max lies in [0, 13.29], so '<= 20' can never fail; "
        "pick a threshold inside the range"
    )
    assert res[1].warning is None and res[4].warning is None and res[5].warning is None
    assert "can never fail" in res[2].warning and "can never pass" in res[3].warning
    lines = format_results(res)
    assert lines[0].startswith("PASS  exposure.max = 12.5 <= 20") and lines[1] == res[0].warning
    assert gate_summary(res)["warnings"] == [res[0].warning, res[2].warning, res[3].warning]
    # without the ceiling in the records exposure is only known to be >= 0: no warning for 20, one for -1
    res = check([parse_rule("exposure.max <= 20"), parse_rule("exposure.max >= -1")], FIGS, None)
    assert res[0].warning is None and "can never fail" in res[1].warning


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


def _verdict_file(run: Path) -> Path:
    """The one verdict file under RUN/gates/ (a test checks one policy per run)."""
    (found,) = (run / "gates").glob("*.json")
    return found


def test_gate_cli_exit_codes(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    ok = _policy(tmp_path, ["mia.min_k_pp@0.2.auc <= 0.6", "exposure.max <= 20"])
    assert main(["gate", str(run), "--policy", ok]) == 0
    out = capsys.readouterr().out
    assert "PASS  mia.min_k_pp@0.2.auc = 0.55 <= 0.6" in out and "gate: PASS (2/2 rules)" in out
    gate = json.loads(_verdict_file(run).read_text())
    assert gate["passed"] is True and gate["status"] == "PASS" and len(gate["rules"]) == 2
    assert not (run / "gate.json").exists()  # without --replace the run's own verdict is left alone

    bad = _policy(tmp_path, ["mia.min_k_pp@0.2.auc <= 0.6", "mia.loss.auc <= 0.6"])
    assert main(["gate", str(run), "--policy", bad, "--replace"]) == 1
    assert "FAIL  mia.loss.auc = 0.8 <= 0.6" in capsys.readouterr().out
    assert json.loads((run / "gate.json").read_text())["passed"] is False

    # a bad policy, a missing figure, a missing run: exit 2 with one line
    assert main(["gate", str(run), "--policy", _policy(tmp_path, ["mia.loss.auc ~ 3"])]) == 2
    assert main(["gate", str(run), "--policy", _policy(tmp_path, ["mia.nope.auc <= 3"])]) == 2
    assert main(["gate", str(tmp_path / "missing"), "--policy", ok]) == 2
    assert main(["gate", str(run), "--policy", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "OP one of" in err and "matches 'nope.auc'" in err and "not found" in err


def test_gate_cli_prints_the_range_warning(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    vacuous = _policy(tmp_path, ["mia.loss.auc <= 1", "exposure.max <= 20"])
    assert main(["gate", str(run), "--policy", vacuous]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "WARN  mia.loss.auc <= 1: mia.loss.auc lies in [0, 1], so '<= 1' can never fail; pick a threshold inside "
        "the range"
    )
    assert not any("exposure.max <= 20:" in x for x in out)  # these records hold no exposure ceiling
    rules = json.loads(_verdict_file(run).read_text())["rules"]
    assert rules[0]["warning"] == out[1] and rules[1]["warning"] is None
