"""The blind baseline (Das et al. 2024): ~0.5 on a random split of one pool, ~1 on two visibly different
pools, and it never sees the model."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from auditor.inputs.data import TextSet
from auditor.pipeline.library import run_mia
from auditor.probes.mia.blind import BLIND, blind_records, blind_scores
from auditor.probes.mia.family import MIASection
from auditor.probes.mia.runner import MIAConfig
from auditor.store.runs import RunDir

NOUNS = "river stone garden window teacher market letter harbor forest engine village painter".split()
VERBS = "finds carries watches paints follows answers opens leaves builds remembers".split()
ADJS = "quiet old bright narrow distant gentle heavy simple early hidden".split()


def _pool(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = [f"The {rng.choice(ADJS)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}."
             for _ in range(rng.randint(3, 6))]  # fmt: skip
        out.append(" ".join(s))
    return out


def _auc(scores: np.ndarray, n_members: int) -> float:
    y = np.r_[np.ones(n_members), np.zeros(len(scores) - n_members)]
    return float(roc_auc_score(y, scores))


def test_random_split_of_one_pool_scores_about_one_half():
    texts = _pool(240, seed=1)
    rng = random.Random(7)
    rng.shuffle(texts)
    aucs = [_auc(blind_scores(texts[:120], texts[120:], seed=s), 120) for s in range(3)]
    assert all(0.35 < a < 0.65 for a in aucs), aucs


def test_two_visibly_different_pools_score_near_one():
    old = _pool(60, seed=2)
    rng = random.Random(3)
    new = [f"In {rng.randint(2024, 2026)} the council announced a new budget of {rng.randint(10, 99)} million for "
           f"{rng.choice(['roads', 'schools', 'clinics'])}; officials said work starts in {rng.randint(2025, 2027)}."
           for _ in range(60)]  # fmt: skip
    assert _auc(blind_scores(new, old), 60) > 0.95


def test_scores_are_out_of_fold_and_the_records_match_sklearn():
    m, n = _pool(30, seed=4), [t.replace("The", "A") for t in _pool(30, seed=5)]
    scores = blind_scores(m, n)
    assert scores.shape == (60,) and np.all((scores >= 0) & (scores <= 1))
    recs = {r.metric: r for r in blind_records(scores, 30, {"loss": 0.55}, threshold=0.6, n_boot=200, seed=0, tags={})}
    assert recs["auc"].value == pytest.approx(_auc(scores, 30), abs=1e-12)
    lo, hi = recs["auc"].ci
    assert lo <= recs["auc"].value <= hi
    assert recs["shifted"].value == float(recs["auc"].value >= 0.6)
    assert all(r.task == BLIND and r.extra["model_free"] for r in recs.values())


def test_shifted_when_at_or_above_the_best_attack_even_below_the_threshold():
    scores = np.r_[np.linspace(0.4, 0.8, 20), np.linspace(0.3, 0.7, 20)]
    auc = {r.metric: r.value for r in blind_records(scores, 20, {}, threshold=0.99, n_boot=50, seed=0, tags={})}
    below = {r.metric: r.value for r in blind_records(scores, 20, {"loss": auc["auc"] - 0.01}, threshold=0.99,
                                                     n_boot=50, seed=0, tags={})}  # fmt: skip
    above = {r.metric: r.value for r in blind_records(scores, 20, {"loss": auc["auc"] + 0.01}, threshold=0.99,
                                                     n_boot=50, seed=0, tags={})}  # fmt: skip
    assert below["shifted"] == 1.0 and above["shifted"] == 0.0


def test_default_on_for_a_user_split_and_off_for_the_lab():
    assert MIASection(members="m.jsonl", nonmembers="n.jsonl").blind_on()
    assert not MIASection().blind_on()
    assert not MIASection(members="m.jsonl", nonmembers="n.jsonl", blind=False).blind_on()


def test_it_never_sees_the_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    members = TextSet([f"m{i}" for i in range(12)], _pool(12, seed=8), "m")
    nonmembers = TextSet([f"n{i}" for i in range(12)], _pool(12, seed=9), "n")
    results = []
    for k, scale in enumerate((1.0, 3.0)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(scale)
        run = RunDir(tmp_path / f"r{k}", {"k": k})
        results.append(run_mia(model, tok, members, nonmembers, run, MIAConfig(attacks=("loss",), n_boot=50),
                               blind=True))  # fmt: skip
    assert results[0]["loss"]["auc"] != results[1]["loss"]["auc"]  # the models differ
    assert results[0][BLIND] == results[1][BLIND]  # the blind baseline does not
    from auditor.report.build import write_report

    md = write_report(tmp_path / "r0").with_suffix(".md").read_text(encoding="utf-8")
    shifted = results[0][BLIND]["shifted"]
    assert ("Shifted split" in md) == bool(shifted) and "blind baseline" in md and BLIND in md


def test_gate_warns_on_a_shifted_split():
    from auditor.report.gate import shift_warning

    assert shift_warning({"mia": {"blind_baseline": {"auc": 0.97, "shifted": 1.0}}}).startswith("WARN  mia: shifted")
    assert shift_warning({"mia": {"blind_baseline": {"auc": 0.52, "shifted": 0.0}}}) is None
    assert shift_warning({"mia": {"loss": {"auc": 0.9}}}) is None


def test_the_smollm2_audit_config_and_its_data_load_and_the_windows_rebuild(tmp_path):
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from auditor.pipeline.audit import load_audit_config
    from auditor.pipeline.loop import prepare_families

    root = Path(__file__).resolve().parent.parent
    cfg = load_audit_config(str(root / "tasks/configs/smollm2-audit.yaml"), [])
    assert cfg.model == "smollm2-135m" and cfg.mia.blind_on() and cfg.extraction.prefix_lens == (8, 16, 32, 64)
    data = prepare_families(["mia"], cfg, None)
    assert len(data["mia"].members) == 46 and data["mia"].blind is not None
    assert _auc(data["mia"].blind, 46) > 0.9  # licences vs our prose: the split is shifted, by design
    copy = tmp_path / "data"
    shutil.copytree(root / "tasks/data", copy, ignore=shutil.ignore_patterns("*_windows.jsonl"))
    subprocess.run([sys.executable, str(copy / "build_public_sets.py")], check=True, capture_output=True)
    for name in ("public_windows.jsonl", "novel_windows.jsonl"):
        rebuilt = [json.loads(x) for x in (copy / name).read_text(encoding="utf-8").splitlines()]
        shipped = [json.loads(x) for x in (root / "tasks/data" / name).read_text(encoding="utf-8").splitlines()]
        assert rebuilt == shipped
