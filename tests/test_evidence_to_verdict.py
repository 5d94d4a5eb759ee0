"""From evidence to verdict, end to end with the README's own audit YAML on a tiny local checkpoint: a rule
measured on 1 text of 40 is INCONCLUSIVE (never PASS), the audit exits 1 and says why, and the report card
shows how many texts the figure rests on and why the others were skipped."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from test_readme_example import WORDS, _readme_example, _write_jsonl

from auditor.cli import main


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _setup(tmp_path: Path, tiny_model_dir: Path, long_texts: int) -> tuple[dict, list[str]]:
    """The README example in ``tmp_path`` with 40 member texts, ``long_texts`` of them long enough for the
    32-token prefix + 32-token suffix and the rest a few words; the pruning sweep left out for speed."""
    config_text, argv = _readme_example()
    config = yaml.safe_load(config_text)
    (tmp_path / "my-checkpoint").symlink_to(tiny_model_dir, target_is_directory=True)
    rng = random.Random(0)
    members = [{"id": f"m{i}", "text": _text(rng, 90 if i < long_texts else 5)} for i in range(40)]
    _write_jsonl(tmp_path / "data" / "members.jsonl", members)
    _write_jsonl(tmp_path / "data" / "nonmembers.jsonl", [{"id": f"n{i}", "text": _text(rng, 5)} for i in range(40)])
    canaries = [
        {"id": f"c{i}", "prefix": "The door code of the old mill is", "secret": f" {i:04d}", "repeats": 1}
        for i in range(2)
    ]
    _write_jsonl(tmp_path / "data" / "canaries.jsonl", canaries)
    (tmp_path / "my-audit.yaml").write_text(config_text, encoding="utf-8")
    args = [x if x != "cuda" else "cpu" for x in argv[1:]] + ["--set", "sweep.enabled=false"]
    return config, args


@pytest.mark.slow
def test_one_usable_text_of_forty_is_inconclusive_and_fails_the_audit(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config, args = _setup(tmp_path, tiny_model_dir, long_texts=1)
    rc = main(args)
    out = capsys.readouterr().out
    assert rc == 1, out
    run = tmp_path / config["out"]
    gate = json.loads((run / "gate.json").read_text())
    rule = next(r for r in gate["rules"] if r["path"] == "extraction.exact_extraction_rate")
    assert rule["status"] == "INCONCLUSIVE" and rule["n"] == 1 and not rule["passed"]
    assert "INCONCLUSIVE" in out and "1 of 40 texts" in out
    summary = json.loads((run / "summary.json").read_text())
    fig = summary["figures"]["extraction.exact_extraction_rate"]
    assert fig["n"] == 1 and sum(fig["skipped"].values()) == 39
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "1 of 40 texts (39 too short" in html


@pytest.mark.slow
def test_forty_texts_too_short_stop_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _config, args = _setup(tmp_path, tiny_model_dir, long_texts=0)

    def no_load(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("auditor.models.load.load_model", no_load)
    monkeypatch.setattr("auditor.pipeline.audit.load_model", no_load)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "extraction.prefix_lens" in lines[0] and "extraction.suffix_len" in lines[0], err
    # the corrected command runs into the same folder: the failed attempt left nothing that blocks it
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    rc = main([*args, "--set", "extraction.prefix_lens=[2]", "--set", "extraction.suffix_len=2"])
    assert rc in (0, 1), capsys.readouterr()
