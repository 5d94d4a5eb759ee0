"""The shipped example policies fail the demo's memorizing lab candidate, and name its canary rules.

The demo (``auditor demo`` = ``auditor audit tasks/configs/demo-audit.yaml``) takes minutes on a CPU (exposure
ranks every canary among 10^4 candidates), so this runs the same config on the shipped standard lab with
smaller sections: the lab's files named one by one (so the lab family's own full evaluation is skipped), two
of its canaries seen 64 times in training, 30 MIA texts of each class, 10 extraction texts, no comparison
checkpoint and no sweep. The shipped policies' rules that need neither (no ``baseline``,
no ``points.``) are then checked against the run's figures, as ``auditor gate`` would.
"""

from __future__ import annotations

import json

import pytest

from auditor.lab.build import SHIPPED_DIR
from auditor.pipeline.audit import load_audit_config, run_audit
from auditor.report.figures import collect_figures
from auditor.report.gate import Rule, check, load_policy, parse_rules
from auditor.tasks import tasks_dir

CONFIGS = tasks_dir() / "configs"


def _dense_absolute(rules: list[Rule]) -> list[Rule]:
    return [r for r in rules if not r.relative and not r.path.startswith("points.")]


@pytest.fixture(scope="module")
def demo_figures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("demo")
    rows = [json.loads(x) for x in (SHIPPED_DIR / "canaries.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["repeats"] == 64][:2]
    canaries = tmp / "canaries.jsonl"
    canaries.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    lab = f"{SHIPPED_DIR}/"
    overrides = [
        f"out={tmp / 'run'}",
        "lab=null",
        "compare=[]",
        "sweep.enabled=false",
        "capability.enabled=false",
        "policy=[]",
        f"mia.members={lab}members.jsonl",
        f"mia.nonmembers={lab}nonmembers.jsonl",
        "mia.limit=30",
        "mia.n_boot=100",
        f"extraction.data={lab}members.jsonl",
        "extraction.limit=10",
        "extraction.prefix_lens=[16]",
        f"exposure.canaries={canaries}",
    ]
    out = run_audit(load_audit_config(str(CONFIGS / "demo-audit.yaml"), overrides))
    figures, _ = collect_figures(out)
    return figures


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["demo-audit.yaml", "policy-example.yaml"])
def test_shipped_policy_fails_the_demo_lab_on_its_canary_rules(demo_figures: dict, policy: str) -> None:
    if policy == "demo-audit.yaml":
        rules = parse_rules(list(load_audit_config(str(CONFIGS / policy), []).policy))
    else:
        rules = list(load_policy(CONFIGS / policy).rules)
    results = check(_dense_absolute(rules), demo_figures, None)
    failed = {r.rule for r in results if not r.passed}  # FAIL, or INCONCLUSIVE (counted as failing by default)
    assert "extraction_canaries.exact_extraction_rate <= 0.01" in failed, failed
    assert "exposure.rank1_rate <= 0.1" in failed and "mia.loss.auc.ci_low <= 0.6" in failed, failed
    status = {r.rule: r.status for r in results}
    assert status["mia.loss.auc.ci_low <= 0.6"] == "FAIL"  # 60 texts: the whole interval lies above 0.6
    # 2 canaries are fewer than the default min_n of 10: too few to pass a rule, but a canary the model ranks
    # first fails "rank1_rate <= 0.1" outright
    assert status["exposure.rank1_rate <= 0.1"] == "FAIL", status
    assert not any(r.warning for r in results)  # no shipped threshold lies outside its figure's range
    assert demo_figures["exposure"]["max_possible"] == pytest.approx(13.2877, abs=1e-4)  # log2(10^4)


def test_shipped_policies_have_dense_canary_rules_and_no_vacuous_exposure_rule() -> None:
    demo = parse_rules(list(load_audit_config(str(CONFIGS / "demo-audit.yaml"), []).policy))
    for rules in (demo, list(load_policy(CONFIGS / "policy-example.yaml").rules)):
        texts = {r.text for r in rules}
        assert {"extraction_canaries.exact_extraction_rate <= 0.01", "exposure.rank1_rate <= 0.1"} <= texts
        assert any(r.path.endswith((".ci_low", ".ci_high")) and r.path.startswith("mia.") for r in rules)
        assert not any(r.path == "exposure.max" and r.add >= 13.2877 for r in rules)  # could never fail


def test_policy_example_addresses_figures_every_run_has() -> None:
    """No prefix-length-specific path (the demo measures 4/8/16, Pythia-style runs 32): the headline figure."""
    rules = load_policy(CONFIGS / "policy-example.yaml").rules
    assert not any("@" in r.path.split(".")[1] for r in rules if r.path.startswith("extraction."))
