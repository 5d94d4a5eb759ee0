from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import auditor.cli as cli_pkg
from auditor.cli import main
from auditor.cli.main import build_parser


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
    from auditor.tasks import tasks_dir

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


# ---------------------------------------------------------------- parser, help, flags -> overrides


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every (command path, parser) below ``parser``, nested groups (lab build, tasks build) included."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(((*path, name), sub))
                out.extend(_commands(sub, (*path, name)))
    return out


def _shown_defaults(p: argparse.ArgumentParser) -> list[str]:
    skip = (None, False, argparse.SUPPRESS)
    return [
        f"(default: {a.default})"
        for a in p._actions
        if a.option_strings and all(a.default is not s for s in skip) and a.default != [] and a.help
    ]


def test_every_command_help_exits_0_and_shows_defaults(capsys):
    commands = _commands(build_parser())
    names = {path[-1] for path, _ in commands}
    assert {
        "lab",
        "build",
        "info",
        "mia",
        "prune",
        "sweep",
        "extract",
        "exposure",
        "generate-extract",
        "tasks",
    } <= names
    assert {"capability", "unlearn", "audit", "demo", "report", "gate", "unlearn-compare"} <= names
    for path, sub in commands:
        with pytest.raises(SystemExit) as e:
            main([*path, "--help"])
        assert e.value.code == 0, path
        text = " ".join(capsys.readouterr().out.split())
        assert text.startswith(f"usage: auditor {' '.join(path)}"), path
        for shown in _shown_defaults(sub):
            assert shown in text, (path, shown)
    assert "(default: 1000)" in " ".join(dict(commands)[("mia",)].format_help().split())  # the check checks


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"memaudit {importlib.metadata.version('memaudit')}"


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "cuda:12", "auto", "mps"])
def test_device_flag_accepts_cuda_n_and_mps(device):
    p = build_parser()
    for argv in (["info", "m"], ["mia", "--model", "m", "--members", "a", "--nonmembers", "b", "--out", "o"],
                 ["sweep"], ["audit", "c.yaml"], ["demo"], ["capability", "--model", "m", "--out", "o"]):  # fmt: skip
        assert p.parse_args([*argv, "--device", device]).device == device


@pytest.mark.parametrize("argv", [["info", "m", "--device", "bogus"], ["sweep", "--device", "cuda:x"]])
def test_bad_device_is_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: argument --device: unknown device" in err[0] and "cuda:N" in err[0]


def test_usage_errors_are_one_line_and_exit_2(capsys):
    assert main(["mia", "--model", "m"]) == 2
    assert main(["sweep", "--batch-size", "0"]) == 2
    assert main(["sweep", "--prefix-lens", "8,x"]) == 2
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("auditor") and "error:" in line for line in err)
    assert "--members, --nonmembers, --out" in err[0] and "--help" in err[0]


def test_sweep_flags_map_to_config_overrides():
    from auditor.cli.prune import sweep_overrides

    argv = ["sweep", "cfg.yaml", "--set", "seed=3", "--model", "lab", "--lab", "labdir", "--out", "o"]
    argv += ["--methods", "magnitude,wanda", "--sparsities", "0,0.5", "--families", "mia,lab", "--structure", "2:4"]
    argv += ["--granularity", "row", "--device", "cuda:1", "--dtype", "bfloat16", "--revision", "main"]
    argv += ["--members", "m.jsonl", "--nonmembers", "n.jsonl", "--attacks", "loss,min_k@0.2"]
    argv += ["--extraction-data", "x.jsonl", "--prefix-lens", "8,16", "--suffix-len", "24"]
    argv += ["--canaries", "c.jsonl", "--corpus", "corpus.txt", "--calibration", "cal.jsonl", "--limit", "50"]
    argv += ["--batch-size", "16", "--trust-remote-code", "--allow-pickle"]
    got = sweep_overrides(build_parser().parse_args(argv))
    assert got[0] == "seed=3"  # --set first: the named flags win on the same key
    assert set(got[1:]) == {
        "model=lab",
        "lab=labdir",
        "out=o",
        "methods=[magnitude,wanda]",
        "sparsities=[0.0,0.5]",
        "families=[mia,lab]",
        'structure="2:4"',  # YAML would read 2:4 as a number (sexagesimal)
        "granularity=row",
        "device=cuda:1",
        "dtype=bfloat16",
        "revision=main",
        "mia.members=m.jsonl",
        "mia.nonmembers=n.jsonl",
        "mia.attacks=[loss,min_k@0.2]",
        "extraction.data=x.jsonl",
        "extraction.prefix_lens=[8,16]",
        "extraction.suffix_len=24",
        "exposure.canaries=c.jsonl",
        "untargeted.corpus=corpus.txt",
        "calibration.path=cal.jsonl",
        "limit=50",
        "batch_size=16",
        "trust_remote_code=true",
        "allow_pickle=true",
    }
    assert len(got) == 25


def test_sweep_passes_only_the_flags_given():
    from auditor.cli.prune import sweep_overrides
    from auditor.config import apply_overrides

    p = build_parser()
    assert sweep_overrides(p.parse_args(["sweep", "c.yaml", "--set", "mia.limit=5"])) == ["mia.limit=5"]
    assert sweep_overrides(p.parse_args(["sweep", "--batch-size", "auto"])) == ["batch_size=null"]
    odd = ["sweep", "--members", "dir: x/yes.jsonl", "--corpus", "on", "--attacks", "loss, min_k", "--out", "#1"]
    data = apply_overrides({}, sweep_overrides(p.parse_args(odd)))
    assert data["mia"] == {"members": "dir: x/yes.jsonl", "attacks": ["loss", "min_k"]}
    assert data["untargeted"] == {"corpus": "on"} and data["out"] == "#1"


def test_audit_and_demo_flags_map_to_config_overrides():
    from auditor.cli.audit import audit_overrides
    from auditor.cli.capability import capability_overrides

    p = build_parser()
    a = p.parse_args(["audit", "c.yaml", "--set", "seed=1", "--device", "cuda:0", "--dtype", "float16"])
    assert audit_overrides(a) == ["seed=1", "device=cuda:0", "dtype=float16"]
    assert audit_overrides(p.parse_args(["audit", "c.yaml"])) == []
    a = p.parse_args(["demo", "--batch-size", "4", "--set", "compare=[]"])
    assert audit_overrides(a) == ["out=reports/demo", "compare=[]", "batch_size=4"]
    a = p.parse_args(["capability", "--model", "m", "--out", "o", "--families", "fact_recall", "--set", "seed=2"])
    assert capability_overrides(a) == ["model=m", "out=o", "families=[fact_recall]", "methods=[]", "sparsities=[0.0]",
                                       "seed=2"]  # fmt: skip


def test_help_does_not_import_torch():
    code = "import sys; from auditor.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_cli_layout_small_modules_no_cycles():
    """One module per command group: no file over 300 lines, no function over 60, groups never import main."""
    root = Path(cli_pkg.__file__).parent
    for path in root.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 300, path.name
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}:{node.name}"
            if path.name != "__init__.py" and isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [n.name for n in node.names]
                assert not any(n == "auditor.cli.main" for n in names) or path.name == "__main__.py", path.name
    from auditor.cli.main import GROUPS

    assert [g.__name__.rsplit(".", 1)[1] for g in GROUPS] == [
        "audit", "lab", "mia", "prune", "extract", "forecast", "dupcount", "capability", "unlearn"
    ]  # fmt: skip
