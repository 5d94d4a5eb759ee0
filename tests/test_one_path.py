"""One path: the single-probe commands are one-point plans of the sweep's loop, and every record says what it
was measured on (``n``) and what it left out (``skipped``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import auditor
from auditor.store.runs import log_rows, parse_units

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = "too short for prefix + suffix"
LONG = "The colour of item 3 is 8. Q: What is it? A: yes. The size of item 4 is 2."


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


# ---------------------------------------------------------------- evidence in every record


def test_an_extraction_sweep_records_the_texts_too_short(loaded) -> None:
    texts = [LONG] + [f"item {i}" for i in range(39)]  # one text long enough for 4 + 4 tokens, 39 not
    config = {"extraction": {"prefix_lens": [4], "suffix_len": 4}}
    res = auditor.sweep(
        *loaded, families=["extraction"], methods=["magnitude"], sparsities=[0.0, 0.5], texts=texts, config=config
    )
    exact = [r for r in res["records"] if r["task"] == "extraction" and r["metric"] == "exact_extraction_rate"]
    assert len(exact) == 2  # the dense point and magnitude 0.5
    for r in exact:
        assert r["n"] == 1 and r["skipped"] == {SHORT: 39}
    assert all(r["n"] + sum(r["skipped"].values()) == 40 for r in res["records"] if r["task"] == "extraction")


def test_mia_records_count_the_recall_prefix_and_others_skip_nothing(loaded, tmp_path) -> None:
    from auditor.inputs.data import TextSet
    from auditor.pipeline.library import run_exposure, run_mia
    from auditor.probes.mia.runner import MIAConfig
    from auditor.store.runs import RunDir

    members = TextSet([f"m{i}" for i in range(6)], [f"member text {i} about the river" for i in range(6)], "m")
    nonmembers = TextSet([f"n{i}" for i in range(6)], [f"other text {i} about a mountain" for i in range(6)], "n")
    run = RunDir(tmp_path / "run", {"x": 1})
    cfg = MIAConfig(attacks=("loss", "recall"), n_boot=20, recall_shots=2)
    run_mia(*loaded, members, nonmembers, run, cfg, blind=True)
    recs = [r for r in run.all_records() if r["family"] == "mia"]
    attacks = [r for r in recs if r["task"] in ("loss", "recall")]
    recall_prefix = {"non-members used as the ReCaLL prefix": 2}
    assert attacks and all(r["n"] == 10 and r["skipped"] == recall_prefix for r in attacks)
    assert all(r["n"] == 12 and r["skipped"] == {} for r in recs if r["task"] == "blind_baseline")
    canaries = [{"id": f"c{i}", "prefix": "The colour of item", "secret": f" {i}2", "repeats": 1} for i in range(2)]
    run_exposure(*loaded, canaries, run)
    exposure = [r for r in run.all_records() if r["family"] == "exposure"]
    assert exposure and all(r["n"] == 2 and r["skipped"] == {} for r in exposure if r["task"] == "exposure")


# ---------------------------------------------------------------- one path: resume like a sweep


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _texts(prefix: str, n: int) -> list[dict]:
    text = "The colour of item {i} is {k}. Q: What is it? A: {p}."
    return [{"id": f"{prefix}{i}", "text": text.format(i=i, k=i % 13, p=prefix)} for i in range(n)]


def _killed_after(monkeypatch: pytest.MonkeyPatch, module: object, name: str, n: int) -> dict:
    """``module.name`` raises KeyboardInterrupt on its call ``n + 1`` (a kill after ``n`` units); counts calls."""
    real, calls = getattr(module, name), {"n": 0, "kill": n}

    def counted(*a, **k):
        calls["n"] += 1
        if calls["n"] == calls["kill"] + 1:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(module, name, counted)
    return calls


def _resumes_like_a_sweep(
    argv: list[str], out: Path, fresh: Path, samples: str, scorer: tuple[object, str], units: int, monkeypatch
) -> None:
    """``argv`` killed after its first unit resumes into ``out`` and ends equal to an uninterrupted run in
    ``fresh``: the same records and samples, none twice, and the finished unit not scored again."""
    from auditor.cli.main import main

    calls = _killed_after(monkeypatch, *scorer, 1)
    assert main([*argv, "--out", str(out)]) == 130  # killed inside the family, after its first unit
    assert log_rows(out / "records.jsonl") == []  # the point's records are one unit: none yet
    assert len(parse_units(out / "samples" / samples)[1]) == 1  # the first unit of samples is kept
    calls["n"], calls["kill"] = 0, 10**9
    assert main([*argv, "--out", str(out)]) == 0  # the same command again: resumed
    assert calls["n"] == units - 1  # the finished unit was not recomputed
    assert main([*argv, "--out", str(fresh)]) == 0  # an uninterrupted run
    for file in ("records.jsonl", f"samples/{samples}"):
        got, want = log_rows(out / file), log_rows(fresh / file)
        assert got == want and len(got) > 0
    keys = [(r.get("id"), r.get("label"), r.get("prefix_len")) for r in log_rows(out / "samples" / samples)]
    assert len(keys) == len(set(keys))  # no row twice
    records = log_rows(out / "records.jsonl")
    assert len({(r["task"], r["metric"]) for r in records}) == len(records)  # no record twice
    assert calls["n"] == units - 1 + units  # the fresh run scored every unit


def test_auditor_mia_resumes_after_a_kill_like_a_sweep(tiny_model_dir, tmp_path, monkeypatch) -> None:
    import auditor.probes.mia.runner as runner

    members = _write(tmp_path / "m.jsonl", _texts("m", 300))
    nonmembers = _write(tmp_path / "n.jsonl", _texts("n", 300))
    model = ["--model", str(tiny_model_dir), "--device", "cpu"]
    data = ["--members", members, "--nonmembers", nonmembers]
    argv = ["-q", "mia", *model, *data, "--attacks", "loss,zlib", "--n-boot", "20", "--no-blind"]
    out, fresh = tmp_path / "run", tmp_path / "fresh"
    _resumes_like_a_sweep(argv, out, fresh, "mia_scores.jsonl", (runner, "score_texts"), 3, monkeypatch)
    assert json.loads((out / "mia.json").read_text()) == json.loads((fresh / "mia.json").read_text())
    assert parse_units(out / "records.jsonl")[1] == {f"{tiny_model_dir}/dense/0/mia"}  # the loop's unit


def test_auditor_extract_resumes_after_a_kill_like_a_sweep(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    import auditor.probes.extraction.runner as runner

    data = _write(tmp_path / "d.jsonl", _texts("t", 300) + [{"id": "short", "text": "item 7"}])
    model = ["--model", str(tiny_model_dir), "--device", "cpu"]
    argv = ["-q", "extract", *model, "--data", data, "--prefix-len", "4", "--suffix-len", "4"]
    out, fresh = tmp_path / "run", tmp_path / "fresh"
    _resumes_like_a_sweep(argv, out, fresh, "extraction.jsonl", (runner, "score_items"), 2, monkeypatch)
    summary = json.loads((out / "extraction.json").read_text())
    assert summary == json.loads((fresh / "extraction.json").read_text())
    assert summary["n"] == 300 and summary["skipped_short"] == 1 and summary["n_texts"] == 301
    assert "texts: 301  scored: 300  skipped (too short): 1" in capsys.readouterr().out
    assert parse_units(out / "records.jsonl")[1] == {f"{tiny_model_dir}/dense/0/extraction"}  # the loop's unit
    head = [r for r in log_rows(out / "records.jsonl") if r["task"] == "extraction"]
    assert head and all(r["n"] == 300 and r["skipped"] == {SHORT: 1} for r in head)
