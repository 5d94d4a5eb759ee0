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


@pytest.mark.slow
def test_demo_on_micro_lab_writes_report_and_resumes(micro_lab, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["-q", "demo", "--lab", str(micro_lab), "--out", str(out), "--device", "cpu"]) == 0
    html = (out / "report.html").read_text()
    assert "LOSS (Yeom" in html and "auc" in html and "min_k_pp@0.2" in html
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    auc = next(r for r in recs if r["task"] == "loss" and r["metric"] == "auc")
    lab = json.loads((micro_lab / "lab.json").read_text())["figures"]
    assert auc["value"] == pytest.approx(lab["loss_auc"], abs=1e-3)
    assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]
    n = len(recs)
    assert main(["-q", "demo", "--lab", str(micro_lab), "--out", str(out), "--device", "cpu"]) == 0
    assert len((out / "records.jsonl").read_text().splitlines()) == n  # resumed, nothing duplicated


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "auditor.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "auditor" in r.stdout
