"""GPU proof: throughput, model FLOPs utilization and peak memory of the hot paths, and GPU = CPU numbers.

For SmolLM2-135M and a randomly initialized ~1.1B Llama (TinyLlama's shape: 22 blocks, hidden 2048,
intermediate 5632, 32 heads / 4 KV heads; SmolLM2's tokenizer), on one GPU in bfloat16:

* MIA scoring: ``compute_token_stats`` (the one forward pass every MIA attack reads) over N texts of up
  to 256 tokens; tokens/s and MFU = 2 * parameters * tokens/s / the GPU's peak dense bf16 FLOP/s
  (attention FLOPs are left out, so MFU is slightly understated);
* batched greedy extraction: ``decode`` of 64 new tokens after 32-token prefixes, generated tokens/s;
* a 10-point magnitude sweep (0, 0.1 ... 0.9) with MIA scoring of 128 texts at each point: seconds;
* peak GPU memory (``torch.cuda.max_memory_allocated``) of each phase;
* GPU vs CPU: per-text mean log-likelihood of 16 texts on the CPU (float32) against the GPU in float32
  (tolerance 1e-3) and bfloat16 (reported), and the greedy tokens of 8 prefixes in float32 (equal).

    python benches/gpu.py                      # on a CUDA machine (make bench-gpu)
    python benches/gpu.py --device cpu --small # the same code on a tiny model, to check the script here

Prints one table per model. Peak FLOP/s: ``--peak-tflops``, else looked up from the device name
(H100/H200 SXM 989, A100 312, L40S 362, A10G 125 bf16 dense TFLOP/s).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, fn: Callable[[], object]) -> tuple[float, float]:
    """Seconds and peak GPU GiB of ``fn()`` (peak 0 on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device.startswith("cuda") else 0.0
    return dt, peak


def peak_tflops(device: str, given: float | None) -> float | None:
    if given:
        return given
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def texts(n: int) -> list[str]:
    from auditor.lab.pool import load_pool

    pool = [r["text"] for r in load_pool("stdlib_docstrings.jsonl")[0]]
    return [pool[i % len(pool)] for i in range(n)]


def models(small: bool, device: str, dtype: torch.dtype) -> list[tuple[str, object, object]]:
    """(name, model, tokenizer): SmolLM2-135M and the random ~1.1B Llama (``small``: two tiny stand-ins)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from auditor.models.load import ModelSpec, ensure_pad_token, load_model, smollm2_folder

    tok = AutoTokenizer.from_pretrained(str(smollm2_folder()))
    if small:
        shapes = {"tiny-2L": (2, 64, 128, 4, 2), "tiny-4L": (4, 128, 256, 4, 2)}
        out = []
    else:
        smol = load_model(ModelSpec("smollm2-135m", device=device, dtype=str(dtype).replace("torch.", "")))
        out = [("smollm2-135m", smol.model, smol.tokenizer)]
        shapes = {"llama-1.1b-random": (22, 2048, 5632, 32, 4)}
    for name, (layers, hidden, inter, heads, kv) in shapes.items():
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                          num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=2048)  # fmt: skip
        m = LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval().requires_grad_(False)
        ensure_pad_token(m, tok)
        out.append((name, m, tok))
    return out


def bench_model(name: str, model, tok, device: str, a: argparse.Namespace, peak: float | None) -> list[tuple]:
    from auditor.lm.decoding import decode
    from auditor.lm.tokenstats import compute_token_stats
    from auditor.pruning import PruneSpec
    from auditor.pruning.engine import Pruning

    params = sum(p.numel() for p in model.parameters())
    data = texts(a.texts)
    kw = {"batch_size": a.batch_size, "max_tokens": a.max_tokens}
    compute_token_stats(model, tok, data[: a.batch_size], **kw)  # warm-up
    holder: dict = {}
    dt, mem = timed(device, lambda: holder.setdefault("s", compute_token_stats(model, tok, data, **kw)))
    n_tok = holder["s"].n_tokens + len(data)  # scored tokens + the first token of each text (also run)
    rows = [("MIA scoring", f"{n_tok / dt:,.0f} tok/s", _mfu(params, n_tok / dt, peak), f"{mem:.2f}")]
    prefixes = [ids[:32] for ids in tok(data[: a.prefixes], add_special_tokens=True)["input_ids"]]
    decode(model, prefixes[:4], 4, pad_id=tok.pad_token_id, batch_size=4)  # warm-up
    dt, mem = timed(device, lambda: decode(model, prefixes, a.new_tokens, pad_id=tok.pad_token_id,
                                           batch_size=a.decode_batch))  # fmt: skip
    gen = len(prefixes) * a.new_tokens
    rows.append(("greedy extraction", f"{gen / dt:,.0f} tok/s", _mfu(params, gen / dt, peak), f"{mem:.2f}"))
    sweep_texts = data[: a.sweep_texts]

    def sweep() -> None:
        p = Pruning(model, "magnitude", None, PruneSpec(sparsity=0.0))
        for s in [i / 10 for i in range(10)]:
            with p.at(PruneSpec(sparsity=s)):
                compute_token_stats(model, tok, sweep_texts, **kw)

    dt, mem = timed(device, sweep)
    rows.append((f"10-point magnitude sweep ({len(sweep_texts)} texts/point)", f"{dt:.1f} s", "", f"{mem:.2f}"))
    print(f"\n{name}: {params / 1e6:,.0f}M parameters, {next(model.parameters()).dtype}, {device}")
    print(f"{'phase':<48}{'rate / time':>16}{'MFU':>8}{'peak GiB':>10}")
    for r in rows:
        print(f"{r[0]:<48}{r[1]:>16}{r[2]:>8}{r[3]:>10}")
    return rows


def _mfu(params: int, tok_per_s: float, peak: float | None) -> str:
    return f"{2 * params * tok_per_s / (peak * 1e12):.1%}" if peak else "n/a"


def gpu_equals_cpu(device: str) -> None:
    """SmolLM2's per-text mean log-likelihood and greedy tokens, CPU float32 vs ``device``."""
    from auditor.lm.decoding import decode
    from auditor.lm.tokenstats import compute_token_stats
    from auditor.models.load import ModelSpec, load_model

    data = texts(16)
    cpu = load_model(ModelSpec("smollm2-135m", device="cpu", dtype="float32"))
    ref = [float(x.mean()) for x in compute_token_stats(cpu.model, cpu.tokenizer, data, batch_size=8).logprob]
    prefixes = [ids[:32] for ids in cpu.tokenizer(data[:8], add_special_tokens=True)["input_ids"]]
    ref_tokens = decode(cpu.model, prefixes, 16, pad_id=cpu.tokenizer.pad_token_id, batch_size=8).tokens
    del cpu
    for dtype in ("float32", "bfloat16"):
        lm = load_model(ModelSpec("smollm2-135m", device=device, dtype=dtype))
        got = [float(x.mean()) for x in compute_token_stats(lm.model, lm.tokenizer, data, batch_size=8).logprob]
        diff = max(abs(x - y) for x, y in zip(ref, got, strict=True))
        line = f"GPU {dtype} vs CPU float32: max |mean log-lik diff| {diff:.2e}"
        if dtype == "float32":
            toks = decode(lm.model, prefixes, 16, pad_id=lm.tokenizer.pad_token_id, batch_size=8).tokens
            same = sum(x == y for x, y in zip(ref_tokens, toks, strict=True))
            line += f" ({'ok' if diff < 1e-3 else 'FAIL'} at 1e-3); greedy tokens equal for {same}/8 prefixes"
        print(line)
        del lm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="tiny random models (check the script on a CPU)")
    ap.add_argument("--texts", type=int, default=2048)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--prefixes", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--decode-batch", type=int, default=128)
    ap.add_argument("--sweep-texts", type=int, default=128)
    ap.add_argument("--peak-tflops", type=float, help="the GPU's peak dense bf16 TFLOP/s (default: by name)")
    a = ap.parse_args()
    if a.small:
        a.texts, a.prefixes, a.sweep_texts, a.batch_size, a.decode_batch = 32, 16, 8, 8, 8
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("benches/gpu.py: torch sees no GPU; run it on a CUDA machine (or --device cpu --small)")
    dtype = torch.bfloat16 if a.device.startswith("cuda") else torch.float32
    peak = peak_tflops(a.device, a.peak_tflops)
    if a.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name()}, peak {peak} TFLOP/s bf16; torch {torch.__version__}")
    for name, model, tok in models(a.small, a.device, dtype):
        bench_model(name, model, tok, a.device, a, peak)
        del model
        if a.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if a.device.startswith("cuda"):
        gpu_equals_cpu(a.device)


if __name__ == "__main__":
    main()
