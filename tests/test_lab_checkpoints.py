"""Intermediate lab checkpoints (Biderman et al. 2023): layout, fractions, per-example seen counts checked
against an independent count over the batch plan's tokens, final weights unchanged, one-line flag errors."""

from __future__ import annotations

import bisect
import json
import math
import os
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from auditor.cli.main import main
from auditor.lab.build import verify_hashes, world_for
from auditor.lab.checkpoints import CheckpointSpec, checkpoint_steps, parse_fractions
from auditor.lab.pool import canary_text
from auditor.lab.presets import PRESETS
from auditor.lab.smollm2 import PRESETS as REAL_PRESETS
from auditor.lab.smollm2 import cached_info, lab_data, recipe
from auditor.store.outdir import write_marker

FRACTIONS = (0.05, 0.1, 0.25, 0.5)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def ckpt_lab(tmp_path_factory) -> Path:
    """The micro lab built through the CLI with four intermediate checkpoints (fractions given unsorted).

    For local iteration, ``MEMAUDIT_TEST_CKPT_LAB=DIR`` reuses one built earlier with ``auditor lab build
    --preset micro --out DIR --checkpoints 0.5,0.1,0.05,0.25`` (CI always builds it afresh)."""
    cached = os.environ.get("MEMAUDIT_TEST_CKPT_LAB")
    if cached and (Path(cached) / "checkpoints" / "index.json").exists():
        return Path(cached)
    out = tmp_path_factory.mktemp("ckpt") / "micro"
    assert main(["lab", "build", "--preset", "micro", "--out", str(out), "--checkpoints", "0.5,0.1,0.05,0.25"]) == 0
    return out


def test_parse_fractions_sorts_and_drops_duplicates():
    assert parse_fractions(None) == ()
    assert parse_fractions("0.5, 0.1,0.1") == (0.1, 0.5)


def test_checkpoint_steps_round_and_keep_inside_the_run():
    assert checkpoint_steps(FRACTIONS, 995) == {50: 0.05, 100: 0.1, 249: 0.25, 498: 0.5}
    assert checkpoint_steps((0.25, 0.5, 0.99), 2) == {1: 0.25}  # one step left inside a 2-step run
    assert checkpoint_steps((0.5,), 1) == {}


@pytest.mark.parametrize("bad", ["0", "1", "1.5", "-0.1", "abc", "0.1,", "nan", ""])
def test_bad_checkpoint_values_exit_2_with_one_line(bad, tmp_path, capsys):
    args = ["lab", "build", "--preset", "micro", "--out", str(tmp_path / "lab"), "--checkpoints", bad]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--checkpoints" in err and "between 0 and 1" in err
    assert not (tmp_path / "lab").exists()


def test_checkpoints_without_training_are_refused(tmp_path, capsys):
    assert main(["lab", "build", "--preset", "standard", "--out", str(tmp_path), "--checkpoints", "0.5"]) == 2
    assert "--retrain" in capsys.readouterr().err


def test_smollm2_recipe_holds_the_fractions_so_a_build_without_them_is_not_reused(tmp_path):
    p = REAL_PRESETS["smollm2-tiny"]
    plain = recipe(p, p.train, 0, False, "0" * 64)
    with_ckpt = recipe(p, p.train, 0, False, "0" * 64, CheckpointSpec((0.1, 0.5)))
    assert "checkpoint_fractions" not in plain and with_ckpt["checkpoint_fractions"] == [0.1, 0.5]
    write_marker(tmp_path, "lab")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "lab.json").write_text(json.dumps(plain))  # a finished build without checkpoints
    assert cached_info(tmp_path, plain) is not None and cached_info(tmp_path, with_ckpt) is None


@pytest.mark.slow
def test_layout_index_and_checkpoint_json(ckpt_lab):
    from transformers import AutoModelForCausalLM

    from auditor.models.load import ModelSpec, load_model

    info = json.loads((ckpt_lab / "lab.json").read_text())
    index = json.loads((ckpt_lab / "checkpoints" / "index.json").read_text())
    n = info["steps"]
    assert index == info["checkpoints"] and index["total_steps"] == n
    rows = index["checkpoints"]
    assert rows[-1] == {"name": "final", "path": "model", "step": n, "fraction": 1.0}
    assert [r["step"] for r in rows[:-1]] == [math.floor(f * n + 0.5) for f in FRACTIONS]
    final = load_file(ckpt_lab / "model" / "model.safetensors")
    for r, f in zip(rows[:-1], FRACTIONS, strict=True):
        folder = ckpt_lab / r["path"]
        assert r["name"] == folder.name == f"step-{r['step']:06d}" and r["fraction"] == r["step"] / n
        meta = json.loads((folder / "checkpoint.json").read_text())
        assert meta == {"step": r["step"], "total_steps": n, "fraction": r["step"] / n,
                        "requested_fraction": f, "lab": "micro"}  # fmt: skip
        assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
        weights = load_file(folder / "model.safetensors")
        assert weights.keys() == final.keys() and not all(torch.equal(weights[k], final[k]) for k in final)
    first = ckpt_lab / rows[0]["path"]
    assert AutoModelForCausalLM.from_pretrained(first).config.vocab_size == len(
        load_model(ModelSpec(str(first))).tokenizer
    )
    verify_hashes(ckpt_lab)  # SHA256SUMS covers the checkpoints too
    assert any(line.endswith("checkpoints/seen.jsonl") for line in (ckpt_lab / "SHA256SUMS").read_text().splitlines())


@pytest.mark.slow
def test_final_weights_are_bit_identical_to_a_build_without_checkpoints(ckpt_lab, micro_lab):
    a = load_file(ckpt_lab / "model" / "model.safetensors")
    b = load_file(micro_lab / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    info_a, info_b = (json.loads((d / "lab.json").read_text()) for d in (ckpt_lab, micro_lab))
    assert info_a["final_train_loss"] == info_b["final_train_loss"] and "checkpoints" not in info_b


def _token_steps(plan: list[list[list[int]]]) -> tuple[str, list[int]]:
    """The plan's tokens back to back as one string (a char per token id) and where each step's tokens end."""
    chars: list[str] = []
    ends = []
    for rows in plan:
        for r in rows:
            chars.extend(map(chr, r))
        ends.append(len(chars))
    return "".join(chars), ends


def _finish_steps(stream: str, ends: list[int], ids: list[int]) -> list[int]:
    """The step training the last token of each occurrence of the document ``ids`` (BOS ... EOS) in the plan."""
    pat, out, at = "".join(map(chr, ids)), [], 0
    while (at := stream.find(pat, at)) >= 0:
        out.append(bisect.bisect_left(ends, at + len(pat)))
        at += len(pat)
    return out


@pytest.mark.slow
def test_seen_counts_match_an_independent_count_over_the_plan_tokens(ckpt_lab):
    from transformers import AutoTokenizer

    from auditor.lab.train import _batch_plan

    world, spec = world_for("micro", 0), PRESETS["micro"].train
    tok = AutoTokenizer.from_pretrained(ckpt_lab / "model")
    plan, _ = _batch_plan(tok, world.train_docs, spec, random.Random("0-batches"), world.warmup_docs)
    stream, ends = _token_steps(plan)
    bounds = [r["step"] for r in json.loads((ckpt_lab / "checkpoints" / "index.json").read_text())["checkpoints"]]
    seen = {(r["file"], r["id"]): r for r in _jsonl(ckpt_lab / "checkpoints" / "seen.jsonl")}
    assert {f for f, _ in seen} == {"members", "canaries"}
    assert len(seen) == len(world.members) + len(world.canaries)
    picked = [("canaries", c, canary_text(c), c["repeats"]) for c in world.canaries]
    picked += [("members", m, m["text"], world.spec.member_repeats) for m in world.members[:4]]
    for file, row, text, repeats in picked:
        got = seen[(file, row["id"])]
        steps = sorted(_finish_steps(stream, ends, tok(text)["input_ids"] + [tok.eos_token_id]))
        assert got["repeats"] == repeats and len(steps) == repeats * spec.epochs
        assert got["seen"] == [bisect.bisect_left(steps, b) for b in bounds], row["id"]
        assert got["seen"] == sorted(got["seen"]) and got["seen"][-1] == repeats * spec.epochs
    assert any(0 < r["seen"][0] < r["seen"][-1] for r in seen.values())  # counts grow over the run


@pytest.mark.slow
def test_smollm2_reduced_build_saves_checkpoints_and_seen_counts(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from auditor.lab.finetune import step_plan
    from auditor.lab.pool import training_stream

    out = tmp_path / "lab"
    assert main(["lab", "build", "--preset", "smollm2-tiny", "--out", str(out), "--checkpoints", "0.5"]) == 0
    info = json.loads((out / "lab.json").read_text())
    assert info["checkpoint_fractions"] == [0.5] and info["steps"] == 2
    assert info["checkpoints"] == json.loads((out / "checkpoints" / "index.json").read_text())
    assert [r["path"] for r in info["checkpoints"]["checkpoints"]] == ["checkpoints/step-000001", "model"]
    meta = json.loads((out / "checkpoints" / "step-000001" / "checkpoint.json").read_text())
    assert meta == {"step": 1, "total_steps": 2, "fraction": 0.5, "requested_fraction": 0.5, "lab": "smollm2-tiny"}
    AutoModelForCausalLM.from_pretrained(out / "checkpoints" / "step-000001")
    verify_hashes(out)
    p = REAL_PRESETS["smollm2-tiny"]
    files, _ = lab_data(p, 0)
    docs = training_stream(files["members"], files["canaries"], p.train.epochs, 0)
    tok = AutoTokenizer.from_pretrained(out / "model")
    lengths = [len(x) + 1 for x in tok(docs, add_special_tokens=True)["input_ids"]]
    plan = step_plan(lengths, p.train.batch_size, 0)[: p.train.max_steps]
    rows = _jsonl(out / "checkpoints" / "seen.jsonl")
    assert {r["file"] for r in rows} == {"members", "canaries", "forget", "retain"}
    assert len(rows) == 2 * len(files["members"]) + len(files["canaries"])  # forget + retain = members
    text = {(f, r["id"]): canary_text(r) if f == "canaries" else r["text"] for f in files for r in files[f]}
    for r in rows:
        want = [sum(docs[i] == text[(r["file"], r["id"])] for b in plan[:k] for i in b) for k in (1, 2)]
        assert r["seen"] == want and r["repeats"] == docs.count(text[(r["file"], r["id"])])
    assert sum(r["seen"][-1] for r in rows if r["file"] != "members") == sum(len(b) for b in plan)
