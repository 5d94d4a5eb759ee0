from __future__ import annotations

import shutil

import pytest
import torch

from auditor.errors import ModelLoadError
from auditor.models.load import ModelSpec, ensure_pad_token, load_model
from auditor.pipeline.info import model_info


def test_local_folder_loads_in_eval_mode_without_grads(tiny_model_dir):
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu"))
    assert not lm.model.training
    assert all(not p.requires_grad for p in lm.model.parameters())
    assert next(lm.model.parameters()).dtype == torch.float32
    assert lm.fingerprint.startswith("sha256:")


def test_dtype_option(tiny_model_dir):
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="bfloat16"))
    assert next(lm.model.parameters()).dtype == torch.bfloat16


def test_missing_pad_token_is_set_and_logged(tiny_model_dir, tmp_path):
    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu"))
    lm.tokenizer.pad_token = None
    notes = ensure_pad_token(lm.model, lm.tokenizer)
    assert lm.tokenizer.pad_token == lm.tokenizer.eos_token and "no pad token" in notes[0]
    assert lm.model.config.pad_token_id == lm.tokenizer.pad_token_id


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(str(tmp_path / "nowhere"))


def test_folder_without_config(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(tmp_path / "m"))


def test_missing_gguf(tmp_path):
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        load_model(str(tmp_path / "x.gguf"))


def test_hub_id_offline_says_so():
    with pytest.raises(ModelLoadError, match="cannot fetch 'someorg/some-model'"):
        load_model(ModelSpec("someorg/some-model", device="cpu"))


def test_pickle_weights_refused_unless_allowed(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "binonly"
    shutil.copytree(tiny_model_dir, folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(ModelSpec(str(folder), device="cpu"))
    lm = load_model(ModelSpec(str(folder), device="cpu", allow_pickle=True))
    assert lm.model is not None


def test_bad_device_and_dtype(tiny_model_dir):
    from auditor.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown dtype"):
        load_model(ModelSpec(str(tiny_model_dir), dtype="int3"))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no GPU"):
            load_model(ModelSpec(str(tiny_model_dir), device="cuda"))


def test_info_finds_linear_layers_by_pattern(tiny_model_dir):
    info = model_info(load_model(ModelSpec(str(tiny_model_dir), device="cpu")))
    assert info["architecture"] == "LlamaForCausalLM"
    assert info["prunable_layers"] == 2 * 7  # q k v o gate up down per layer
    assert not any("lm_head" in n or "embed" in n for n in info["prunable_examples"])


def test_gpt2_conv1d_layers_are_found():
    from transformers import GPT2Config, GPT2LMHeadModel

    from auditor.pruning.targets import find_targets

    m = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=32))
    names = set(find_targets(m))
    assert len(names) == 2 * 4 and "transformer.h.0.attn.c_attn" in names
