"""One extraction config: the YAML section ``extraction:`` and ``auditor extract``'s flags build the same
:class:`ExtractionConfig`; the section reads raw rows, so its column keys work in an audit; and ``auditor extract``
makes the audit's check before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import auditor.models.load as load_mod
from auditor.cli import main
from auditor.cli.extract_flags import extraction_config
from auditor.cli.main import build_parser
from auditor.config import build
from auditor.errors import ConfigError, InputError
from auditor.models.load import load_tokenizer
from auditor.pipeline.sections import Sections
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.family import ExtractionData, ExtractionFamily, ExtractionSection
from auditor.probes.extraction.precheck import check_extraction

SHORT = "a short text"
LONG = " ".join(["The colour of item 3 is 8."] * 12)


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_the_section_is_the_config_and_lengths_resolve_as_before() -> None:
    assert ExtractionSection is ExtractionConfig
    unset = ExtractionConfig()
    assert unset.prefix_lens is None and unset.suffix_len is None
    user, lab = unset.resolved(), unset.resolved(lab_texts=True)
    assert (user.prefix_lens, user.suffix_len, user.headline()) == ((32,), 32, 32)
    assert (lab.prefix_lens, lab.suffix_len, lab.headline()) == ((4, 8, 16), 16, 16)
    assert ExtractionConfig(prefix_len=8).resolved(lab_texts=True).sweep() == (8,)  # one length, as given
    assert ExtractionConfig(prefix_lens=(32, 64)).headline() == 32  # 32 swept: the headline, as before
    assert (
        ExtractionConfig(prefix_lens=(8, 16)).resolved() == ExtractionConfig(prefix_lens=(8, 16)).resolved().resolved()
    )
    with pytest.raises(ConfigError, match="suffix_len"):
        ExtractionConfig(suffix_len=0)
    with pytest.raises(ConfigError, match="suffix_column"):
        ExtractionConfig(prefix_column="prefix")


def test_yaml_section_and_cli_flags_give_equal_configs(tmp_path) -> None:
    section = {
        "data": "rows.jsonl",
        "limit": 10,
        "prefix_lens": [8, 16],
        "suffix_len": 8,
        "prefix_column": "prefix",
        "suffix_column": "secret",
        "repeats_column": "reps",
        "approx_metric": "bleu",
        "batch_size": 4,
        "keep_text": False,
    }
    from_yaml = build(Sections, yaml.safe_load(yaml.safe_dump({"extraction": section}))).extraction
    argv = ["extract", "--model", "m", "--out", "o", "--data", "rows.jsonl", "--limit", "10", "--prefix-lens", "8,16"]
    argv += ["--suffix-len", "8", "--prefix-column", "prefix", "--suffix-column", "secret", "--repeats-column", "reps"]
    argv += ["--approx-metric", "bleu", "--batch-size", "4", "--no-text"]
    from_flags = extraction_config(build_parser().parse_args(argv))
    assert from_flags == from_yaml
    plain = extraction_config(build_parser().parse_args(["extract", "--model", "m", "--out", "o", "--data", "d"]))
    assert plain == build(Sections, {"extraction": {"data": "d"}}).extraction  # both leave the lengths unset


def _audit(tmp_path: Path, model: Path, extraction: dict) -> Path:
    cfg = {
        "model": str(model),
        "out": str(tmp_path / "out"),
        "device": "cpu",
        "mia": {"enabled": False},
        "exposure": {"enabled": False},
        "capability": {"enabled": False},
        "extraction": extraction,
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_prefix_column_works_in_an_audit(tiny_model_dir, tmp_path) -> None:
    rows = [
        {"id": f"c{i}", "prefix": f"The code of item {i} is", "secret": f" {1000 + i}", "repeats": i % 2 + 1}
        for i in range(4)
    ]
    data = _jsonl(tmp_path / "canaries.jsonl", rows)
    section = {"data": data, "prefix_column": "prefix", "suffix_column": "secret", "canaries": False}
    assert main(["-q", "audit", str(_audit(tmp_path, tiny_model_dir, section)), "--no-report"]) == 0
    records = tmp_path / "out" / "checkpoints" / "candidate" / "records.jsonl"
    recs = [json.loads(x) for x in records.open() if x.strip()]
    head = [r for r in recs if r["task"] == "extraction" and r["metric"] == "exact_extraction_rate"]
    assert len(head) == 1 and head[0]["n"] == 4  # every row decoded from its own prefix, none too short
    assert {r["task"] for r in recs} >= {"extraction@repeats=1", "extraction@repeats=2"}  # the repeats column


def test_an_audit_names_the_missing_suffix_column(tiny_model_dir, tmp_path, capsys) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", [{"id": "a", "prefix": "The code is"}])
    section = {"data": data, "prefix_column": "prefix", "suffix_column": "secret", "canaries": False}
    assert main(["audit", str(_audit(tmp_path, tiny_model_dir, section)), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "no column 'secret'" in err and "extraction.suffix_column" in err
    assert not (tmp_path / "out").exists()


def test_cli_extract_on_all_short_texts_stops_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(load_mod, "load_model", refuse)
    data = _jsonl(tmp_path / "x.jsonl", [{"id": str(i), "text": SHORT} for i in range(40)])
    out = tmp_path / "out"
    assert main(["extract", "--model", str(tiny_model_dir), "--data", data, "--out", str(out), "--device", "cpu"]) == 2
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("auditor: error")]
    assert len(err) == 1 and "none of the 40 texts" in err[0] and "x.jsonl" in err[0], err
    assert "--prefix-lens" in err[0] and "--suffix-len" in err[0] and "extraction.prefix_lens" not in err[0]
    assert not out.exists()  # checked before the run folder was made


def test_the_check_takes_rows_in_both_modes(tiny_model_dir) -> None:
    tok = load_tokenizer(str(tiny_model_dir))
    rows = [{"id": str(i), "text": LONG if i == 0 else SHORT} for i in range(5)]
    check_extraction(ExtractionData(rows, ExtractionConfig(), source="x.jsonl"), tok)  # one long text is enough
    short = ExtractionData(rows[1:], ExtractionConfig(), source="x.jsonl", flags=True)
    with pytest.raises(InputError, match=r"none of the 4 texts of x.jsonl .*lower --prefix-lens / --suffix-len"):
        ExtractionFamily().check(short, tok)
    cols = ExtractionConfig(prefix_column="prefix", suffix_column="secret")
    check_extraction(ExtractionData([{"id": "a", "prefix": "The code is", "secret": " 42"}], cols), tok)
    with pytest.raises(InputError, match="the suffix is empty"):
        check_extraction(ExtractionData([{"id": "a", "prefix": "The code is", "secret": ""}], cols), tok)
    with pytest.raises(InputError, match="no column 'text'.*--text-column"):
        check_extraction(ExtractionData([{"id": "a", "body": LONG}], ExtractionConfig(), flags=True), tok)
