"""Check before work: what needs no model is checked before it loads, and a run that fails before measuring
leaves no folder that refuses the corrected command.

Each audit here runs on the tiny local model with ``load_model`` replaced where the check must come first:
the replacement raises, so a test passes only if the check stopped the run before any model would load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import auditor.capability.lmeval as lmeval
import auditor.pipeline.audit as audit_mod
import auditor.pipeline.sweep as sweep_mod
from auditor.cli import main
from auditor.errors import ConfigError, InputError, ModelLoadError
from auditor.models.load import load_model, load_tokenizer
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.family import ExtractionData
from auditor.probes.extraction.precheck import check_extraction
from auditor.store.runs import Record, RunDir

SHORT = "a short text"  # a handful of tokens
LONG = " ".join(["The colour of item 3 is 8."] * 12)


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def _audit_yaml(tmp_path: Path, model: Path, texts: list[str] | None = None, lengths=(32, 32), **extra) -> Path:
    """An audit of extraction alone on ``texts`` (default: 40 short ones) in data/x.jsonl; ``extra``: more keys."""
    data = _jsonl(tmp_path / "data" / "x.jsonl", texts or [SHORT] * 40)
    cfg = {
        "model": str(model),
        "out": str(tmp_path / "out"),
        "device": "cpu",
        "mia": {"enabled": False},
        "exposure": {"enabled": False},
        "capability": {"enabled": False},
        "extraction": {"data": str(data), "prefix_lens": [lengths[0]], "suffix_len": lengths[1]},
        **extra,
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture()
def no_model(monkeypatch):
    """``load_model`` in the pipelines raises: a run that gets that far fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(audit_mod, "load_model", refuse)
    monkeypatch.setattr(sweep_mod, "load_model", refuse)


def _error_line(capsys) -> str:
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("auditor: error")]
    assert len(err) == 1, err
    return err[0]


def test_all_short_texts_stop_the_audit_before_the_model_loads(tiny_model_dir, tmp_path, no_model, capsys):
    cfg = _audit_yaml(tmp_path, tiny_model_dir)
    assert main(["audit", str(cfg)]) == 2
    line = _error_line(capsys)
    assert "none of the 40 texts" in line and "x.jsonl" in line and "(the longest has " in line
    assert "extraction.prefix_lens" in line and "extraction.suffix_len" in line and "--prefix-len" not in line
    assert not (tmp_path / "out").exists()  # checked before the run folder was made


def test_the_corrected_audit_runs_into_the_same_folder(tiny_model_dir, tmp_path, capsys):
    cfg = _audit_yaml(tmp_path, tiny_model_dir)
    assert main(["audit", str(cfg), "--no-report"]) == 2
    _audit_yaml(tmp_path, tiny_model_dir, [LONG] + [SHORT] * 39, (4, 4))
    assert main(["-q", "audit", str(cfg), "--no-report"]) == 0  # 1 usable text of 40: measured, not stopped
    recs = [json.loads(x) for x in (tmp_path / "out" / "checkpoints" / "candidate" / "records.jsonl").open()]
    assert any(r["family"] == "extraction" for r in recs)


def test_a_model_that_fails_to_load_leaves_no_binding_folder(tiny_model_dir, tmp_path, monkeypatch, capsys):
    cfg = _audit_yaml(tmp_path, tiny_model_dir, [LONG] * 3, (4, 4))

    def fail(*args, **kwargs):
        raise ModelLoadError("cannot load model: broken weights")

    monkeypatch.setattr(audit_mod, "load_model", fail)
    assert main(["audit", str(cfg), "--no-report"]) == 2
    assert "broken weights" in _error_line(capsys)
    assert not (tmp_path / "out").exists()  # the folder it made is gone
    monkeypatch.setattr(audit_mod, "load_model", load_model)
    _audit_yaml(tmp_path, tiny_model_dir, [LONG] * 3, (4, 5))  # another identity, the same folder
    assert main(["-q", "audit", str(cfg), "--no-report"]) == 0


def test_a_folder_without_measurements_binds_nothing(tmp_path):
    RunDir(tmp_path / "r", {"a": 1}).close()  # e.g. killed while the model loaded
    again = RunDir(tmp_path / "r", {"a": 2})
    assert not again.resumed and json.loads((tmp_path / "r" / "manifest.json").read_text())["config"] == {"a": 2}
    again.write("u", [Record("mia", "loss", "auc", 0.5)])
    again.close()
    with pytest.raises(Exception, match="other inputs"):
        RunDir(tmp_path / "r", {"a": 3})
    assert RunDir(tmp_path / "r", {"a": 2}).resumed


def test_one_long_text_of_forty_does_not_stop(tiny_model_dir, tmp_path):
    from auditor.inputs.data import TextSet

    tok = load_tokenizer(str(tiny_model_dir))
    texts = [LONG] + [SHORT] * 39
    data = ExtractionData(TextSet([str(i) for i in range(40)], texts, "x.jsonl"), ExtractionConfig(), None)
    check_extraction(data, tok)  # the probe skips the 39 and records them
    short = ExtractionData(TextSet([str(i) for i in range(40)], [SHORT] * 40, "x.jsonl"), ExtractionConfig(), None)
    with pytest.raises(InputError, match=r"none of the 40 texts of x.jsonl .* prefix_lens \(32\) \+ suffix_len \(32\)"):
        check_extraction(short, tok)
    bad = ExtractionData(TextSet(["0"], [LONG], "x.jsonl"), ExtractionConfig(), [{"id": "c", "prefix": "code"}])
    with pytest.raises(InputError, match="no column 'secret'"):
        check_extraction(bad, tok)


def test_the_tokenizer_alone_is_the_models(tiny_model_dir):
    alone = load_tokenizer(str(tiny_model_dir))
    lm = load_model(str(tiny_model_dir))
    assert alone("The colour of item 3")["input_ids"] == lm.tokenizer("The colour of item 3")["input_ids"]
    assert load_tokenizer("lab")("hello")["input_ids"]
    with pytest.raises(ModelLoadError, match="not found"):
        load_tokenizer("./no/such/model")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("sparsities", [0.0, 1.5], "sweep: sparsities: 1.5 is not a fraction in"),
        ("methods", ["magnitud"], "unknown pruning method 'magnitud'"),
        ("structure", "4:2", "N:M structure"),
    ],
)
def test_bad_pruning_keys_fail_before_loading(tiny_model_dir, tmp_path, no_model, capsys, key, value, match):
    cfg = _audit_yaml(tmp_path, tiny_model_dir, sweep={"enabled": True, key: value})
    assert main(["audit", str(cfg)]) == 2
    assert match in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_bad_sweep_keys_fail_before_loading(tiny_model_dir, tmp_path, no_model, capsys):
    data = str(_jsonl(tmp_path / "x.jsonl", [LONG] * 3))
    base = ["sweep", "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"), "--families", "extraction"]
    base += ["--extraction-data", data, "--prefix-lens", "4", "--suffix-len", "4"]
    assert main([*base, "--sparsities", "0,-0.1"]) == 2
    assert "sparsities: -0.1 is not a fraction" in _error_line(capsys)
    assert main([*base, "--set", "granularity=rows"]) == 2
    assert "granularity: 'rows' is unknown" in _error_line(capsys)
    assert main([*base, "--methods", "wanda", "--calibration", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in _error_line(capsys)
    short = str(_jsonl(tmp_path / "short.jsonl", [SHORT] * 5))
    assert main([*base, "--extraction-data", short, "--prefix-lens", "32", "--suffix-len", "32"]) == 2
    assert "none of the 5 texts of" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_an_unknown_lm_eval_task_fails_before_loading(tiny_model_dir, tmp_path, no_model, monkeypatch, capsys):
    monkeypatch.setattr(lmeval, "all_lm_eval_tasks", lambda: ["hellaswag", "arc_easy"])  # the offline index
    cfg = _audit_yaml(tmp_path, tiny_model_dir, capability={"enabled": True, "families": ["lm_eval:hellaswg"]})
    assert main(["audit", str(cfg)]) == 2
    line = _error_line(capsys)
    assert "lm_eval:hellaswg: unknown lm-eval task" in line and "hellaswag" in line
    sweep = ["sweep", "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"), "--sparsities", "0"]
    assert main([*sweep, "--families", "lm_eval:memaudit_nope"]) == 2
    assert "lm_eval:memaudit_nope: unknown lm-eval task" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_policy_path_no_family_records_fails_before_loading(tiny_model_dir, tmp_path, no_model, capsys):
    cfg = _audit_yaml(tmp_path, tiny_model_dir, [LONG] * 3, (4, 4), policy=["mia.loss.auc <= 0.6"])
    assert main(["audit", str(cfg)]) == 2
    line = _error_line(capsys)
    assert "policy rule 'mia.loss.auc <= 0.6': no family of this audit records 'mia.loss.auc'" in line
    assert not (tmp_path / "out").exists()


def test_the_config_check_names_the_key() -> None:
    with pytest.raises(ConfigError, match="sweep: sparsities: 1.0 is not a fraction"):
        audit_mod.load_audit_config(None, ["model=lab", "lab=standard", "sweep={enabled: true, sparsities: [1.0]}"])
