"""Shared fixtures. No network: the hub is switched off before transformers is imported."""

from __future__ import annotations

import os
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# content digests of checkpoints and data (auditor.store.digest_cache) go to a folder of this test run, not ~/.cache
os.environ.setdefault("MEMAUDIT_CACHE_DIR", tempfile.mkdtemp(prefix="memaudit-test-digests-"))

from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 2))  # make test runs with 1 and with 2


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
    threads = torch.get_num_threads()
    try:
        build_lab("micro", 0, out)  # trains with the preset's thread count (its weights do not depend on ours)
    finally:
        torch.set_num_threads(threads)  # the tests after it run with the count this test run asked for
    return out


@pytest.fixture()
def audit_run(tmp_path: Path) -> Path:
    """A hand-made audit run directory (two checkpoints, hostile strings planted), written as records and samples."""
    from test_report_records import make_audit_run

    return make_audit_run(tmp_path)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one thread is as fast, and immune to a busy second core (the count is restored after).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def no_model_loads(monkeypatch):
    """Fail the test if any command gets as far as loading a model (bad input must be caught before)."""
    import auditor.models.load

    original = auditor.models.load.load_model

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded: the bad input was not caught before loading")

    monkeypatch.setattr(auditor.models.load, "load_model", refuse)
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("auditor.") and getattr(mod, "load_model", None) is original:
            monkeypatch.setattr(mod, "load_model", refuse)
    yield
    for mod in list(sys.modules.values()):  # a module first imported during the test took `refuse`: give it back
        if getattr(mod, "__name__", "").startswith("auditor.") and getattr(mod, "load_model", None) is refuse:
            mod.load_model = original
