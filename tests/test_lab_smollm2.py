"""The real-model lab (SmolLM2-135M fine-tuned on stdlib docstrings): seeded data, canaries, the oracle's
training stream, the shipped pool, the alias, and (slow) a reduced build end to end with the MIA plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli.main import main
from auditor.errors import ModelLoadError
from auditor.lab.finetune import FinetuneSpec, lr_at, step_plan
from auditor.lab.pool import canary_text, load_pool, training_stream
from auditor.lab.smollm2 import PRESETS, build_smollm2, default_dir, lab_data
from auditor.lab.truth import blind_null, permutation_p, rises
from auditor.models.load import ModelSpec, resolve_source


def test_shipped_pool_is_deduplicated_and_sized():
    rows, sha = load_pool(PRESETS["smollm2"].pool.file)
    texts = [" ".join(r["text"].split()) for r in rows]
    assert len(rows) >= 700 and len(set(texts)) == len(texts)
    assert len({r["id"] for r in rows}) == len(rows) and len(sha) == 64
    assert all(64 <= r["tokens"] <= 256 for r in rows)


def test_data_files_are_seeded_and_the_split_is_disjoint():
    p = PRESETS["smollm2"]
    a, sha_a = lab_data(p, 0)
    b, sha_b = lab_data(p, 0)
    c, _ = lab_data(p, 1)
    assert a == b and sha_a == sha_b
    assert a["members"] != c["members"] and a["canaries"] != c["canaries"]
    pool_ids = {k: {r["pool_id"] for r in a[k]} for k in ("members", "nonmembers", "calibration")}
    assert not pool_ids["members"] & pool_ids["nonmembers"]
    assert not (pool_ids["members"] | pool_ids["nonmembers"]) & pool_ids["calibration"]
    assert len(a["members"]) == p.pool.n_members and len(a["nonmembers"]) == p.pool.n_nonmembers
    assert a["forget"] + a["retain"] == a["members"] and len(a["forget"]) == round(0.1 * p.pool.n_members)


def test_canaries_follow_the_standard_schema_and_levels():
    p = PRESETS["smollm2"]
    can, _ = lab_data(p, 0)
    can = can["canaries"]
    assert [c["repeats"] for c in can] == [lv for lv in p.canaries.levels for _ in range(p.canaries.per_level)]
    assert len({c["prefix"] for c in can}) == len(can) and len({c["secret"] for c in can}) == len(can)
    for c in can:
        assert set(c) == {"id", "prefix", "secret", "repeats"}
        assert c["secret"].startswith(" ") and c["secret"][1:].isdigit() and len(c["secret"]) == 1 + p.canaries.digits
    assert max(p.canaries.levels) == 64


def test_stream_counts_members_canaries_and_the_oracle_drops_the_forget_set():
    files, _ = lab_data(PRESETS["smollm2"], 0)
    full = training_stream(files["members"], files["canaries"], 3, 0)
    oracle = training_stream(files["retain"], files["canaries"], 3, 0)
    assert full == training_stream(files["members"], files["canaries"], 3, 0)
    for c in files["canaries"]:
        assert full.count(canary_text(c)) == c["repeats"] == oracle.count(canary_text(c))
    assert all(full.count(m["text"]) == 3 for m in files["members"][:10])
    assert not set(oracle) & {r["text"] for r in files["forget"]}
    assert not set(full) & {r["text"] for r in files["nonmembers"]}


def test_step_plan_covers_every_document_once_and_schedule_decays():
    lengths = [5, 40, 7, 33, 12, 9, 60, 2, 18, 21, 3]
    plan = step_plan(lengths, 3, 0)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))
    spec = FinetuneSpec(lr=1e-4, warmup_frac=0.1)
    lrs = [lr_at(s, 100, spec) for s in range(100)]
    assert max(lrs) == pytest.approx(1e-4) and lrs[0] < lrs[10] and lrs[-1] == pytest.approx(1e-5, rel=0.05)


def test_rises_compares_the_top_level_to_the_bottom_one():
    assert rises({"1": 0.0, "2": 0.0, "64": 1.0}) and not rises({"1": 0.5, "64": 0.5}) and not rises({"1": 1.0})


def test_permutation_p_counts_null_draws_as_far_from_half_as_observed():
    null = [0.5, 0.45, 0.58, 0.62, 0.38, 0.51, 0.49, 0.70, 0.30]  # |d| >= 0.12: 0.62, 0.38, 0.70, 0.30
    assert permutation_p(0.62, null) == (1 + 4) / (1 + 9)
    assert permutation_p(0.5, null) == 1.0 and permutation_p(0.99, null) == 1 / 10


def test_blind_null_sits_at_half_when_labels_are_shuffled_and_flags_a_shifted_split():
    members = [f"report {y} on harvest yields in region {i}" for i, y in enumerate(range(1950, 1970))]
    nonmembers = [f"a poem about the sea, verse {i} of the song" for i in range(20)]
    null = blind_null(members, nonmembers, 9, seed=0)
    assert abs(sum(null) / len(null) - 0.5) < 0.15  # labels carry nothing once shuffled
    assert permutation_p(1.0, null) == 0.1  # the real labels are separable: smallest p of 9 draws


def test_alias_before_building_is_a_one_line_error(tmp_path):
    with pytest.raises(ModelLoadError, match=r"auditor lab build --preset smollm2 --without-forget"):
        resolve_source(ModelSpec("lab:smollm2-retrain", cache_dir=str(tmp_path)))


def test_cli_refuses_retrain_with_a_smollm2_preset(capsys):
    assert main(["lab", "build", "--preset", "smollm2-tiny", "--retrain", "--out", "unused"]) != 0
    assert "--retrain is for the standard preset" in capsys.readouterr().err


@pytest.mark.slow
def test_reduced_build_writes_the_lab_and_the_mia_reads_it(tmp_path, capsys):
    out = default_dir("smollm2", 0, False, str(tmp_path))  # where the lab:smollm2 alias looks, under tmp_path
    assert main(["lab", "build", "--preset", "smollm2-tiny", "--out", str(out)]) == 0
    names = {"members", "nonmembers", "canaries", "calibration", "forget", "retain"}
    assert {p.stem for p in out.glob("*.jsonl")} == names
    assert (out / "model" / "model.safetensors").is_file() and (out / "SHA256SUMS").is_file()
    info = json.loads((out / "lab.json").read_text())
    assert info["preset"] == "smollm2-tiny" and info["seed"] == 0 and info["steps"] == 2
    assert len(info["pool"]["sha256"]) == 64 and info["sizes"]["members"] == 10
    figs = info["figures"]
    assert set(figs["canary_exact_by_repeats"]) == set(figs["exposure_by_repeats"]) == {"1", "4"}
    assert 0 <= figs["loss_auc"] <= 1 and 0 <= figs["blind_auc"] <= 1 and len(figs["checks"]) == 4
    assert info["build_seconds"] > 0 and info["loss_last"] is not None
    files, _ = lab_data(PRESETS["smollm2-tiny"], 0)
    rows = [json.loads(x) for x in (out / "canaries.jsonl").read_text().splitlines()]
    assert rows == files["canaries"]  # same seed, same data files
    again = build_smollm2("smollm2-tiny", 0, out)  # cached: no training
    assert again["cached"] and again["build_seconds"] == info["build_seconds"]
    assert resolve_source(ModelSpec("lab:smollm2", cache_dir=str(tmp_path))).path == str(out / "model")
    run = tmp_path / "mia"
    args = ["mia", "--model", str(out / "model"), "--members", str(out / "members.jsonl"), "--nonmembers",
            str(out / "nonmembers.jsonl"), "--attacks", "loss", "--n-boot", "50", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    loss = json.loads(Path(run / "mia.json").read_text())["loss"]
    assert loss["n_members"] == loss["n_nonmembers"] == 10 and 0 <= loss["auc"] <= 1
