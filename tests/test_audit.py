"""The release audit end to end on the micro lab: config validation, run, resume, gate both ways, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from auditor.cli import main
from auditor.errors import ConfigError
from auditor.pipeline.audit import AuditConfig, load_audit_config


def _config(tmp_path: Path, micro_lab: Path, **extra) -> Path:
    cfg = {
        "model": str(micro_lab / "model"),
        "label": "candidate",
        "lab": str(micro_lab),
        "out": str(tmp_path / "audit"),
        "compare": [{"label": "previous", "model": str(micro_lab / "model")}],
        "device": "cpu",
        "mia": {"attacks": ["loss", "min_k@0.2"], "n_boot": 50},
        "extraction": {"prefix_lens": [4, 8], "suffix_len": 8, "limit": 24},
        "capability": {"limit": 40},
        "sweep": {
            "enabled": True,
            "methods": ["magnitude"],
            "sparsities": [0.0, 0.5],
            "families": ["mia", "extraction", "fact_recall", "icl_classification"],
        },
        **extra,
    }
    p = tmp_path / "audit.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_config_rejects_bad_keys_and_labels(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model: lab\nlab: standard\nmia: {attack: [loss]}\n")
    with pytest.raises(ConfigError, match=r"mia.attack: unknown key; valid keys: enabled, members"):
        load_audit_config(str(p), [])
    with pytest.raises(ConfigError, match="duplicate checkpoint label"):
        load_audit_config(None, ["model=lab", "lab=standard", "compare=[{label: candidate, model: lab}]"])
    with pytest.raises(ConfigError, match="baseline: 'nope' is not a compare label"):
        load_audit_config(None, ["model=lab", "lab=standard", "compare=[{label: a, model: lab}]", "baseline=nope"])
    with pytest.raises(ConfigError, match="OP one of"):
        AuditConfig(model="lab", lab="standard", policy=("mia.loss.auc = 3",))
    with pytest.raises(ConfigError, match="mia: give members and nonmembers"):
        AuditConfig(model="lab")


@pytest.mark.slow
def test_audit_runs_resumes_gates_and_reports(micro_lab: Path, tmp_path: Path, capsys) -> None:
    cfg = _config(
        tmp_path,
        micro_lab,
        # the upper end of the CI: "not shown to be worse than 90% of the baseline" (36 items cannot show more)
        policy=["mia.loss.auc >= 0.5", "capability.fact_recall.accuracy.ci_high >= 0.9 * baseline"],
    )
    assert main(["-q", "audit", str(cfg)]) == 0
    out = tmp_path / "audit"
    out_text = capsys.readouterr().out
    assert "PASS  mia.loss.auc" in out_text and "gate: PASS (2/2 rules)" in out_text
    cand = out / "checkpoints" / "candidate"
    recs = [json.loads(x) for x in (cand / "records.jsonl").read_text().splitlines()]
    dense = {r["family"] for r in recs if r.get("method") == "dense"}
    assert {"lab", "mia", "extraction", "exposure", "fact_recall", "icl_classification"} <= dense
    pruned = {(r["family"], r["requested_sparsity"]) for r in recs if r.get("method") == "magnitude"}
    assert {("fact_recall", 0.5), ("mia", 0.5), ("extraction", 0.5)} <= pruned
    tasks = {r["task"] for r in recs if r.get("family") == "extraction"}
    assert {"extraction@prefix_len=4", "extraction@prefix_len=8", "extraction_canaries"} <= tasks
    prev = (out / "checkpoints" / "previous" / "records.jsonl").read_text()
    assert '"method": "magnitude"' not in prev  # comparison checkpoints are measured dense only
    records = (cand / "records.jsonl").read_text().splitlines()

    # a crash after some units: drop units of the candidate's records; the rerun redoes exactly those
    kept = [ln for ln in records if "/exposure" not in json.loads(ln)["_unit"] and "magnitude/0.5/mia" not in ln]
    assert len(kept) < len(records)
    (cand / "records.jsonl").write_text("\n".join(kept) + "\n")
    (out / "records.jsonl").write_text("")  # the top level forgets both checkpoints were done
    assert main(["-q", "audit", str(cfg), "--no-report"]) == 0
    again = (cand / "records.jsonl").read_text().splitlines()
    assert len(again) == len(set(again)) == len(records)  # every line once: nothing lost, nothing duplicated

    # the gate both ways on the finished run
    ok = tmp_path / "ok.yaml"
    ok.write_text(  # this audit plants 8 canaries: the policy accepts figures measured on 8 items
        "min_n: 8\nrules: ['mia.loss.auc >= 0.5', 'exposure.max >= 0', 'points.magnitude.0.5.mia.loss.auc <= 1']\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: ['mia.loss.auc <= 0.5', 'capability.fact_recall.accuracy > baseline']\n")
    assert main(["gate", str(out), "--policy", str(ok)]) == 0
    assert main(["gate", str(out), "--policy", str(bad)]) == 1
    assert main(["gate", str(out)]) == 0  # the audit config's own policy (policy.json)

    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Membership inference" in html and "Extraction and exposure" in html and "Capabilities under pruning" in html
    assert "What pruning removes first" in html
    assert html.count("data:image/png;base64,") >= 3
    md = (out / "report.md").read_text()
    assert "| figure | candidate | previous | candidate - previous |" in md
