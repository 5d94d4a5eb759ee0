"""``benches/gpu.py`` runs its phases end to end (on the CPU, tiny model), so the GPU proof does not rot."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def test_gpu_bench_phases_run_on_a_tiny_model(tiny_tokenizer, capsys):
    path = Path(__file__).resolve().parents[1] / "benches" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=tiny_tokenizer.pad_token_id)  # fmt: skip
    model = LlamaForCausalLM(cfg).eval().requires_grad_(False)
    a = argparse.Namespace(texts=8, max_tokens=64, batch_size=4, prefixes=4, new_tokens=4, decode_batch=4,
                           sweep_texts=4)  # fmt: skip
    rows = gpu.bench_model("tiny", model, tiny_tokenizer, "cpu", a, peak=1.0)
    assert [r[0].split(" (")[0] for r in rows] == ["MIA scoring", "greedy extraction", "10-point magnitude sweep"]
    assert rows[0][1].endswith("tok/s") and rows[0][2].endswith("%")
    assert "MIA scoring" in capsys.readouterr().out
    assert gpu.peak_tflops("cpu", None) is None and gpu.peak_tflops("cuda", 500.0) == 500.0
