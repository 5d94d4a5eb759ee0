"""INCONCLUSIVE rules, the policy's min_n and inconclusive mode, and one verdict per run (RUN/gates/<hash>.json).

A rule cannot be decided on a figure measured on too few items: a 95% CI that straddles the threshold, n below
the minimum, a TPR at an FPR below 1/#non-members, or nothing measured. ``auditor gate RUN --policy P`` keeps
its verdict beside the run's own and leaves ``gate.json`` / ``summary.json`` alone unless ``--replace``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_summary import SCHEMA, validate

import auditor.cli.audit as audit_cli
from auditor.cli import main
from auditor.cli.tables import records_table
from auditor.errors import ConfigError
from auditor.report.build import build_document
from auditor.report.doc import Cards, Table, Verdict, render_html, render_markdown
from auditor.report.evidence import evidence_line
from auditor.report.gate import check, check_policy, format_results, gate_summary, parse_policy, verdict_line
from auditor.report.policy import DEFAULT_MIN_N, parse_rule
from auditor.report.summary import build_summary
from auditor.store.runs import Record, RunDir

SHORT = {"too short for prefix + suffix": 39}
RATE = {
    "exact_extraction_rate": 0.0,
    "exact_extraction_rate_ci": [0.0, 0.79],
    "exact_extraction_rate_n": 1,
    "exact_extraction_rate_skipped": SHORT,
}
AUC = {"auc": 0.8, "auc_ci": [0.7, 0.9], "auc_n": 80, "n_nonmembers": 40}
FIGS = {
    "extraction": RATE,
    "mia": {"loss": {**AUC, "tpr@1%fpr": 0.1, "tpr@1%fpr_n": 80, "tpr@1%fpr_low_n": True}},
    "exposure": {"rank1_rate": 0.0, "rank1_rate_n": 64, "max": None, "max_n": 0},
}


def _status(rules: list[str], figs: dict = FIGS, min_n: int = DEFAULT_MIN_N) -> list[str]:
    return [r.status for r in check([parse_rule(t) for t in rules], figs, None, min_n)]


def test_policy_shapes_defaults_and_hash() -> None:
    listed = parse_policy(["mia.loss.auc <= 0.6"])
    assert (listed.min_n, listed.inconclusive, listed.source) == (10, "fail", None) and DEFAULT_MIN_N == 10
    mapped = parse_policy({"rules": ["mia.loss.auc <= 0.6"]}, source="p.yaml")
    assert mapped.sha256 == listed.sha256 and mapped.record()["source"] == "p.yaml"  # the same rules, one hash
    own = parse_policy(
        {"rules": ["extraction.exact_extraction_rate <= 0.01 (n >= 100)"], "min_n": 3, "inconclusive": "pass"}
    )
    rule = own.rules[0]
    assert (rule.path, rule.op, rule.add, rule.min_n) == ("extraction.exact_extraction_rate", "<=", 0.01, 100)
    assert (own.min_n, own.inconclusive) == (3, "pass") and own.sha256 != listed.sha256
    assert parse_rule("capability.fact_recall.accuracy >= 0.9 * baseline (n>=50)").min_n == 50
    bad = [
        ({"rules": ["a.b <= 1"], "min_n": -1}, "min_n must be a whole number >= 0"),
        ({"rules": ["a.b <= 1"], "min_n": True}, "min_n must be a whole number"),
        ({"rules": ["a.b <= 1"], "inconclusive": "maybe"}, "inconclusive must be 'fail' or 'pass'"),
        ({"rules": ["a.b <= 1"], "strict": True}, r"unknown key\(s\) strict; a policy has only rules, min_n"),
        ({"min_n": 3}, "a mapping with 'rules:'"),
        ("a.b <= 1", "a list of 'PATH OP VALUE' rules"),
        (["a.b <= 1 (n >= many)"], "VALUE must be a number"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_policy(data)


def test_a_straddling_interval_is_inconclusive_unless_the_rule_reads_its_end() -> None:
    assert _status(["mia.loss.auc <= 0.75", "mia.loss.auc <= 0.95", "mia.loss.auc <= 0.65"]) == [
        "INCONCLUSIVE",
        "PASS",
        "FAIL",
    ]
    # .ci_low / .ci_high already account for the interval: decided either way
    assert _status(["mia.loss.auc.ci_low <= 0.75", "mia.loss.auc.ci_high <= 0.75"]) == ["PASS", "FAIL"]
    (res,) = check([parse_rule("mia.loss.auc <= 0.75")], FIGS, None)
    assert not res.passed and res.reason == "95% CI [0.7, 0.9] straddles 0.75" and res.ci == [0.7, 0.9]


def test_too_few_items_low_n_tpr_and_unmeasured_figures_are_inconclusive() -> None:
    figs = {"mia": {"loss": {**AUC, "auc_n": 5}}, "x": {"rate": 0.5}}  # "x.rate" does not say its n
    assert _status(["mia.loss.auc.ci_low <= 0.75"], figs) == ["INCONCLUSIVE"]
    assert _status(["mia.loss.auc.ci_low <= 0.75"], figs, min_n=5) == ["PASS"]
    assert _status(["mia.loss.auc.ci_low <= 0.75 (n >= 6)"], figs, min_n=1) == ["INCONCLUSIVE"]
    assert _status(["x.rate <= 0.6"], figs) == ["PASS"]  # n not recorded: not held to a minimum
    (res,) = check([parse_rule("mia.loss.tpr@1%fpr <= 0.5")], FIGS, None)
    assert res.status == "INCONCLUSIVE" and res.reason == "a TPR at 1% FPR needs at least 100 non-members"
    assert _status(["exposure.max <= 10", "exposure.rank1_rate <= 0"]) == ["INCONCLUSIVE", "PASS"]
    (res,) = check([parse_rule("exposure.max <= 10")], FIGS, None)
    assert res.value is None and res.reason == "not measured"
    base = {"mia": {"loss": {"auc": float("nan")}}}
    (res,) = check([parse_rule("mia.loss.auc <= baseline + 0.1")], FIGS, base)
    assert res.status == "INCONCLUSIVE" and res.threshold is None
    assert res.reason == "the baseline's mia.loss.auc was not measured"


def test_the_terminal_says_why_and_the_policy_decides_what_inconclusive_counts_as() -> None:
    rules = ["extraction.exact_extraction_rate <= 0.01", "mia.loss.auc.ci_high <= 0.95"]
    strict = parse_policy(rules, source="strict.yaml")
    results = check_policy(strict, FIGS, None)
    assert format_results(results)[0] == (
        "INCONCLUSIVE  extraction.exact_extraction_rate = 0 <= 0.01: 1 of 40 texts (39 too short for prefix + "
        "suffix); fewer than the 10 the policy needs (min_n); 95% CI [0, 0.79] straddles 0.01"
    )
    assert format_results(results)[1] == "PASS  mia.loss.auc.ci_high = 0.9 <= 0.95: n = 80 texts"
    verdict = gate_summary(results, strict)
    assert (verdict["status"], verdict["passed"], verdict["counts"]["INCONCLUSIVE"]) == ("FAIL", False, 1)
    assert verdict_line(verdict) == (
        "gate: FAIL (1/2 rules); 1 INCONCLUSIVE, counted as failing (policy inconclusive: fail)"
    )
    lenient = parse_policy({"rules": rules, "inconclusive": "pass"})
    assert gate_summary(check_policy(lenient, FIGS, None), lenient)["status"] == "PASS"
    failing = parse_policy({"rules": [*rules, "mia.loss.auc.ci_low <= 0.5"], "inconclusive": "pass"})
    assert gate_summary(check_policy(failing, FIGS, None), failing)["status"] == "FAIL"  # a FAIL still fails
    assert evidence_line(120, {}, "texts") == "n = 120 texts" and evidence_line(1, {}, "canaries") == "n = 1 canary"
    assert evidence_line(None, {}) == "" and evidence_line(2, {"a": 1, "b": 0}, "texts") == "2 of 3 texts (1 a)"


def _run(tmp_path: Path) -> Path:
    """A plain run: an extraction rate on 1 text of 40 (39 too short), a loss AUC on 80 texts."""
    run = RunDir(tmp_path / "run", {"command": "mia"})
    extra = {"n_members": 40, "n_nonmembers": 40}
    run.write(
        "dense",
        [
            Record("mia", "loss", "auc", 0.8, n=80, ci=(0.7, 0.9), extra=extra),
            Record("mia", "min_k@0.2", "auc", 0.6, n=80, ci=(0.5, 0.7), extra=extra),
            Record("extraction", "extraction", "exact_extraction_rate", 0.0, n=1, ci=(0.0, 0.79), skipped=SHORT),
            Record("exposure", "exposure", "rank1_rate", 0.0, n=64),
        ],
    )
    return run.path


def _policy(path: Path, body: dict) -> str:
    path.write_text(json.dumps(body))  # JSON is YAML
    return str(path)


def test_gate_writes_one_verdict_per_policy_and_replaces_only_when_asked(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    own = parse_policy(["mia.loss.auc.ci_low <= 0.95"], source="audit.yaml#policy")
    assert audit_cli._gate_run(run, own) == 0  # the audit's own gate: gate.json, summary.json
    gate = json.loads((run / "gate.json").read_text())
    assert gate["policy"]["source"] == "audit.yaml#policy" and gate["policy"]["sha256"] == own.sha256
    before = {name: (run / name).read_bytes() for name in ("gate.json", "summary.json")}
    capsys.readouterr()

    other = _policy(tmp_path / "other.yaml", {"rules": ["extraction.exact_extraction_rate <= 0.01"]})
    assert main(["gate", str(run), "--policy", other]) == 1
    out = capsys.readouterr().out
    assert "INCONCLUSIVE  extraction.exact_extraction_rate = 0 <= 0.01: 1 of 40 texts (39 too short" in out
    assert "gate: FAIL (0/1 rules); 1 INCONCLUSIVE, counted as failing" in out and "--replace" in out
    assert {name: (run / name).read_bytes() for name in before} == before  # the run's own verdict untouched
    sha = parse_policy({"rules": ["extraction.exact_extraction_rate <= 0.01"]}).sha256
    kept = json.loads((run / "gates" / f"{sha[:12]}.json").read_text())
    assert kept["policy"] == {
        "source": other,
        "sha256": sha,
        "rules": ["extraction.exact_extraction_rate <= 0.01"],
        "min_n": 10,
        "inconclusive": "fail",
    }
    rule = kept["rules"][0]
    assert (rule["status"], rule["passed"], rule["n"], rule["skipped"]) == ("INCONCLUSIVE", False, 1, SHORT)
    assert (run / "gates" / f"{own.sha256[:12]}.json").is_file()  # the audit's own verdict has its file too

    lenient = _policy(
        tmp_path / "lenient.yaml", {"rules": ["extraction.exact_extraction_rate <= 0.01"], "inconclusive": "pass"}
    )
    assert main(["gate", str(run), "--policy", lenient]) == 0
    assert "not counted (policy inconclusive: pass)" in capsys.readouterr().out

    assert main(["gate", str(run), "--policy", other, "--replace"]) == 1
    said = "replaced the run's verdict: PASS under policy audit.yaml#policy is now FAIL under policy " + other
    assert said in capsys.readouterr().out  # a verdict is never turned over without a word
    assert json.loads((run / "gate.json").read_text())["policy"]["source"] == other
    summary = json.loads((run / "summary.json").read_text())
    assert validate(summary, SCHEMA) == []
    assert summary["gate"]["status"] == "FAIL" and summary["gate"]["rules"][0]["status"] == "INCONCLUSIVE"
    verdict = build_document(run).sections[0].blocks[0]
    assert isinstance(verdict, Verdict) and verdict.status == "FAIL"  # the report's verdict follows --replace
    assert "1 INCONCLUSIVE" in verdict.detail and "extraction.exact_extraction_rate <= 0.01" in verdict.detail
    # the shareable report names the policy file by its name only (no local folder), with its hash
    assert dict(verdict.facts)["policy"] == f"<local path .../other.yaml> (sha256 {sha[:12]})"


def test_gate_reads_the_audit_policy_in_either_shape(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    (run / "policy.json").write_text(json.dumps({"rules": ["mia.loss.auc.ci_low <= 0.95"]}))
    assert main(["gate", str(run)]) == 0
    mapping = {"rules": ["extraction.exact_extraction_rate <= 0.01"], "min_n": 1, "inconclusive": "pass"}
    (run / "policy.json").write_text(json.dumps(mapping))
    assert main(["gate", str(run)]) == 0
    (run / "policy.json").write_text(json.dumps({**mapping, "min_n": "x"}))
    assert main(["gate", str(run)]) == 2
    assert "min_n must be a whole number" in capsys.readouterr().err


def test_report_cards_and_summary_show_status_and_n(tmp_path: Path) -> None:
    run = _run(tmp_path)
    rules = [
        "mia.loss.auc.ci_low <= 0.6",
        "extraction.exact_extraction_rate <= 0.01",
        "mia.min_k@0.2.auc <= 0.9",
        "exposure.rank1_rate <= 0",
        "mia.loss.auc <= 1",
        "mia.loss.auc >= 0",
        "mia.min_k@0.2.auc >= 0",
    ]
    policy = parse_policy(rules, source="seven.yaml")
    assert audit_cli._gate_run(run, policy) == 1
    blocks = build_document(run).sections[0].blocks
    cards = next(b for b in blocks if isinstance(b, Cards)).cards
    assert [c.status for c in cards[:2]] == ["FAIL", "INCONCLUSIVE"]  # failing first, then the undecided
    auc, rate = cards[0], cards[1]
    assert (auc.name, auc.value, auc.ci) == ("mia.loss.auc", 0.8, [0.7, 0.9])  # the AUC, not its CI's lower end
    assert auc.lines[:2] == ["rule: mia.loss.auc.ci_low <= 0.6 (reads the CI's lower end, 0.700)", "n = 80 texts"]
    assert rate.lines[1] == "1 of 40 texts (39 too short for prefix + suffix)"
    assert rate.lines[2].startswith("inconclusive: fewer than the 10") and "straddles 0.01" in rate.lines[2]
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.headers[0] == "status" and "n" in table.headers and table.rows[1][0] == "INCONCLUSIVE"
    assert table.rows[1][table.headers.index("n")] == "1 of 40 texts (39 too short for prefix + suffix)"
    html, md = render_html(build_document(run)), render_markdown(build_document(run))
    assert "card inconclusive" in html and "seven.yaml (sha256 " in html and "INCONCLUSIVE" in md
    summary = build_summary(run)
    assert validate(summary, SCHEMA) == [] and summary["gate"]["policy"]["rules"] == rules
    entry = summary["figures"]["extraction.exact_extraction_rate"]
    assert (entry["value"], entry["n"], entry["skipped"]) == (0.0, 1, SHORT)
    assert not any(k.endswith(("_n", "_skipped")) for k in summary["figures"])


def test_without_policy_every_card_says_what_it_was_measured_on(tmp_path: Path) -> None:
    cards = next(b for b in build_document(_run(tmp_path)).sections[0].blocks if isinstance(b, Cards)).cards
    assert cards and all(c.lines[0].startswith(("n = ", "1 of 40")) or c.lines[0] == "n not recorded" for c in cards)


def test_terminal_table_shows_n_and_skipped() -> None:
    rows = [
        {
            "family": "mia",
            "task": "loss",
            "metric": "auc",
            "value": 0.8,
            "n": 80,
            "checkpoint": "model",
            "method": "dense",
            "sparsity": 0.0,
        },
        {
            "family": "extraction",
            "task": "extraction",
            "metric": "exact_extraction_rate",
            "value": 0.0,
            "n": 1,
            "skipped": SHORT,
            "checkpoint": "model",
            "method": "dense",
            "sparsity": 0.0,
        },
    ]
    table = records_table(rows)
    assert "0.800 (n=80)" in table and "0.000 (n=1, 39 skipped)" in table
    assert table.splitlines()[-1] == "skipped (extract): too short for prefix + suffix"


def test_too_few_items_stop_a_pass_but_never_soften_a_fail() -> None:
    """8 of 8 canaries extracted fails '<= 0.01' outright (its whole CI lies above); with a policy that lets
    inconclusive rules pass, a min_n must not turn that failure into a pass."""
    rate = {"exact_extraction_rate": 1.0, "exact_extraction_rate_n": 8, "exact_extraction_rate_ci": [0.68, 1.0]}
    figs = {"extraction_canaries": {"by_repeats": {"64": rate}}, "exposure": {"max": 13.3, "max_n": 3}}
    path = "extraction_canaries.by_repeats.64.exact_extraction_rate"
    assert _status([f"{path} <= 0.01", f"{path} >= 0.5"], figs) == ["FAIL", "INCONCLUSIVE"]
    assert _status(["exposure.max <= 10", "exposure.max <= 20"], figs) == ["FAIL", "INCONCLUSIVE"]
    results = check_policy(parse_policy({"rules": [f"{path} <= 0.01"], "inconclusive": "pass"}), figs, None)
    assert [r.status for r in results] == ["FAIL"]


def test_a_rate_rule_at_the_end_of_its_range_is_warned_never_to_pass() -> None:
    """With a Wilson interval (positive width at every n), 0 of 40 canaries ranked first cannot show
    'rank1_rate <= 0': the gate says so rather than leaving the user with an INCONCLUSIVE that never clears."""
    from auditor.report.gate_warnings import range_warning

    figs = {"exposure": {"rank1_rate": 0.0, "rank1_rate_ci": [0.0, 0.0876], "rank1_rate_n": 40}}
    assert "can never pass" in (range_warning(parse_rule("exposure.rank1_rate <= 0"), 0.0, figs) or "")
    assert range_warning(parse_rule("exposure.rank1_rate <= 0.1"), 0.1, figs) is None
    assert _status(["exposure.rank1_rate <= 0", "exposure.rank1_rate <= 0.1"], figs) == ["INCONCLUSIVE", "PASS"]
