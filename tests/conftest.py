"""Shared fixtures. No network: the hub is switched off before transformers is imported."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A small byte-level BPE tokenizer (the lab's recipe) trained on a few sentences."""
    from auditor.lab.train import train_tokenizer

    docs = [
        f"The {w} of item {i} is {i * 7 % 13}. Q: What is it? A: yes."
        for i in range(200)
        for w in ("colour", "size", "shape")
    ]
    return train_tokenizer(docs, vocab_size=300)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A randomly initialised 2-layer Llama saved as an HF folder (safetensors)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        pad_token_id=tiny_tokenizer.pad_token_id,
        bos_token_id=tiny_tokenizer.bos_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny") / "model"
    model.save_pretrained(out, safe_serialization=True)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def micro_lab(tmp_path_factory) -> Path:
    """The micro lab, built (trained) once per test run.

    For local iteration, ``MEMAUDIT_TEST_MICRO_LAB=DIR`` reuses a micro lab built earlier with
    ``auditor lab build --preset micro --out DIR`` (CI always builds it afresh).
    """
    from auditor.lab.build import build_lab

    cached = os.environ.get("MEMAUDIT_TEST_MICRO_LAB")
    if cached and (Path(cached) / "lab.json").exists():
        return Path(cached)

    out = tmp_path_factory.mktemp("lab") / "micro"
    build_lab("micro", 0, out)
    return out


# A hand-made audit run directory (two checkpoints) with hostile strings planted in every text field.
EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def _checkpoint(folder: Path, members: Path, auc: float) -> None:
    from auditor.probes.mia.runner import plot_roc
    from auditor.runs import UnitLog

    folder.mkdir(parents=True)
    config = {"mia": {"members": str(members), "nonmembers": str(members)}}
    (folder / "manifest.json").write_text(json.dumps({"config": config, "checkpoint": {"notes": [f"note {EVIL}"]}}))
    mia = {"loss": {"auc": auc, "auc_ci": [auc - 0.05, auc + 0.05], "tpr@1%fpr": 0.1, "n_members": 2}}
    (folder / "mia.json").write_text(json.dumps(mia))
    rows = [
        {"id": "m1", "label": 1, "scores": {"loss": 2.0}},
        {"id": "m2", "label": 1, "scores": {"loss": 1.0}},
        {"id": "n1", "label": 0, "scores": {"loss": 0.5}},
    ]
    UnitLog(folder / "samples" / "mia_scores.jsonl").append("u0", rows)
    plot_roc(rows, ["loss"], folder / "mia_roc.png")
    ext = {"exact_extraction_rate@32": 0.5, "by_repeats": {"1": {"exact_extraction_rate": 0.0, "n": 1}}}
    (folder / "extraction.json").write_text(json.dumps(ext))
    UnitLog(folder / "samples" / "extraction.jsonl").append(
        "u0", [{"id": "m1", "prefix_len": 32, "exact": True, "generated": f"secret {EVIL}", "token_match": 1.0}]
    )
    (folder / "exposure.json").write_text(json.dumps({"max": 13.3, "mean": 5.0}))


@pytest.fixture()
def audit_run(tmp_path: Path) -> Path:
    members = tmp_path / "members.jsonl"
    members.write_text(
        json.dumps({"id": "m1", "text": f"member one {EVIL}"}) + "\n" + json.dumps({"id": "m2", "text": "two"}) + "\n"
    )
    run = tmp_path / "audit"
    _checkpoint(run / "checkpoints" / "cand", members, 0.9)
    _checkpoint(run / "checkpoints" / "prev", members, 0.7)
    (run / "manifest.json").write_text(json.dumps({"config": {"model": EVIL}}))
    index = {
        "primary": "cand",
        "baseline": "prev",
        "checkpoints": {"cand": "checkpoints/cand", "prev": "checkpoints/prev"},
    }
    (run / "audit.json").write_text(json.dumps(index))
    return run
