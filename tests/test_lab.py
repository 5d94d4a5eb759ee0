"""The micro lab: files valid, build deterministic, model loadable with plain transformers, and it learns."""

from __future__ import annotations

import json

import pytest

from auditor.lab.build import load_lab_files, world_for
from auditor.lab.presets import PRESETS

pytestmark = pytest.mark.slow


def test_world_is_deterministic_for_a_seed():
    a, b, c = world_for("micro", 3), world_for("micro", 3), world_for("micro", 4)
    assert a.files() == b.files() and a.train_docs == b.train_docs
    assert a.files()["members"] != c.files()["members"]


def test_micro_lab_files_are_valid(micro_lab):
    files = load_lab_files(micro_lab)
    spec = PRESETS["micro"].world
    for name, rows in files.items():
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), name
    assert len(files["members"]) == spec.n_members and len(files["nonmembers"]) == spec.n_nonmembers
    member_texts = {r["text"] for r in files["members"]}
    assert not member_texts & {r["text"] for r in files["nonmembers"]}
    assert sorted({c["repeats"] for c in files["canaries"]}) == sorted(spec.canary_levels)
    for c in files["canaries"]:
        assert c["secret"].strip().isdigit() and len(c["secret"].strip()) == spec.secret_digits
    for name in ("facts", "open_book", "overriding", "icl_classification"):
        for r in files[name]:
            assert r["prompt"] and r["answer"].startswith(" ")
    for r in files["overriding"]:
        assert r["answer"] != r["memorized_answer"] and r["answer"].strip() in r["context"]
    for r in files["open_book"]:
        assert r["answer"].strip() in r["context"]
    facts_subjects = {f["subject"] for f in files["facts"]}
    assert not facts_subjects & {r["subject"] for r in files["open_book"]}  # unseen entities
    assert {r["subject"] for r in files["overriding"]} <= facts_subjects


def test_training_corpus_holds_members_and_canaries_not_nonmembers():
    w = world_for("micro", 0)
    docs = w.train_docs
    assert all(docs.count(m["text"]) == w.spec.member_repeats for m in w.members[:5])
    assert not set(docs) & {n["text"] for n in w.nonmembers}
    for c in w.canaries:
        assert docs.count(c["prefix"] + c["secret"] + ".") == c["repeats"]
    eval_prompts = {r["prompt"] + r["answer"] for r in w.open_book}
    assert not eval_prompts & {d.rstrip(".") for d in docs}


def test_micro_model_loads_with_plain_transformers_and_learns(micro_lab):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(micro_lab / "model")
    tok = AutoTokenizer.from_pretrained(micro_lab / "model")
    assert tok.pad_token is not None and tok("a b")["input_ids"][0] == tok.bos_token_id
    info = json.loads((micro_lab / "lab.json").read_text())
    figs = info["figures"]
    # the micro lab is trained here, and its figures move with the build: measured over seeds 0-2 (1 and 2 threads
    # give bit-identical weights on one machine; another CPU can differ as a seed does) loss_auc 0.899, 0.829, 0.896
    # and icl_classification 0.635, 0.675, 0.655; the bars keep a margin of 0.07 or more below all of them
    assert figs["loss_auc"] >= 0.7, figs  # members clearly memorized (chance: 0.5; 48 + 48 texts)
    assert figs["icl_classification"] >= 0.56, figs  # above chance (0.5; 200 episodes: one-sided p < 0.05)
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["build_seconds"] > 0  # recorded; its speed is measured in lab.json, not asserted (machines are noisy)
