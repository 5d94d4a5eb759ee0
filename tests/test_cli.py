from __future__ import annotations

import json
import subprocess
import sys

import pytest

from auditor.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("lab", "info", "demo"):
        assert cmd in out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing-model")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auditor: error:") and "not found" in err[0]


def test_debug_shows_the_traceback(tmp_path):
    from auditor.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        main(["--debug", "info", str(tmp_path / "missing-model")])


def test_unknown_preset_and_seed_without_retrain(capsys):
    assert main(["lab", "build", "--preset", "huge"]) == 2
    assert "micro, standard" in capsys.readouterr().err
    assert main(["lab", "build", "--preset", "standard", "--seed", "3"]) == 2
    assert "--retrain" in capsys.readouterr().err


def test_info_prints_json(tiny_model_dir, capsys):
    assert main(["-q", "info", str(tiny_model_dir), "--device", "cpu"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] > 0 and info["prunable_layers"] == 14


def test_demo_config_is_valid_and_uses_the_shipped_lab():
    from auditor.pipeline.audit import load_audit_config
    from tasks import tasks_dir

    cfg = load_audit_config(str(tasks_dir() / "configs" / "demo-audit.yaml"), [])
    assert cfg.model == "lab" and cfg.lab == "standard" and cfg.compare[0].model == "lab:retrain"
    assert cfg.policy and cfg.sweep.enabled


@pytest.mark.slow
def test_demo_on_micro_lab_writes_report_and_resumes(micro_lab, tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "-q",
        "demo",
        "--out",
        str(out),
        "--set",
        f"lab={micro_lab}",
        "--set",
        f"model={micro_lab / 'model'}",
        "--set",
        "compare=[]",
        "--set",
        "sweep.enabled=false",
        "--set",
        "capability.enabled=false",
        "--set",
        "extraction.prefix_lens=[4]",
        "--set",
        "extraction.limit=20",
        "--set",
        "mia.n_boot=100",
        "--set",
        "policy=['mia.loss.auc <= 0.6']",
    ]
    assert main(args) == 0  # the policy fails (the lab memorizes) but the demo itself succeeded
    assert "fails the example policy" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "Membership inference" in html and "min_k_pp@0.2" in html and "Verdict: FAIL" in html
    recs = [json.loads(x) for x in (out / "checkpoints" / "lab-candidate" / "records.jsonl").read_text().splitlines()]
    auc = next(r for r in recs if r.get("task") == "loss" and r.get("metric") == "auc")
    lab = json.loads((micro_lab / "lab.json").read_text())["figures"]
    assert auc["value"] == pytest.approx(lab["loss_auc"], abs=1e-3)
    assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]
    n = len(recs)
    assert main(args) == 0
    recs_after = (out / "checkpoints" / "lab-candidate" / "records.jsonl").read_text().splitlines()
    assert len(recs_after) == n  # resumed, nothing duplicated


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "auditor.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "auditor" in r.stdout
