"""MIA scoring throughput: our batched one-pass engine against the loops peers use, in one run.

Variants, all computing every attack that needs only the target's pass (loss, zlib, Min-K%, Min-K%++):

* ``ours``: ``auditor.lm.tokenstats.compute_token_stats`` (length-sorted batches, chunked float32
  log-softmax on the device) and the attack functions;
* ``batch-1 loop``: one forward pass per text, every attack from it (the Min-K%++ reference
  script's way);
* ``pass per attack``: one forward pass per text per attack (open-unlearning's way).

It also measures this machine's float32 matmul GFLOP/s, and reports each variant's share of the
matmul bound (2 x non-embedding-parameters FLOP per token, plus the LM head), and the peak RSS of
each variant, measured in a fresh subprocess.

    python benches/bench_mia.py --model lab --texts 400
    python benches/bench_mia.py --model smollm2-135m --texts 48 --tokens 128
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def matmul_gflops(threads: int, n: int = 1024, reps: int = 20) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def load_texts(model_name: str, n: int, tokens: int | None, tok) -> list[str]:
    from auditor.lab.build import SHIPPED_DIR, load_lab_files

    files = load_lab_files(SHIPPED_DIR)
    pool = [x["text"] for x in files["members"] + files["nonmembers"]]
    if tokens is None:
        return pool[:n]
    # Join lab texts into texts of exactly `tokens` tokens for this tokenizer.
    out, buf = [], []
    for t in pool * 20:
        buf.extend(tok(" " + t, add_special_tokens=False)["input_ids"])
        while len(buf) >= tokens - 1 and len(out) < n:
            out.append(tok.decode(buf[: tokens - 1]))
            buf = buf[tokens - 1 :]
        if len(out) >= n:
            break
    return out


def run_variant(variant: str, model_name: str, n: int, tokens: int | None, threads: int, batch: int) -> dict:
    from auditor.lm.tokenstats import compute_token_stats
    from auditor.models import ModelSpec, load_model
    from auditor.probes.mia.base import AttackInputs
    from auditor.probes.mia.min_k import score as min_k
    from auditor.probes.mia.min_k_pp import score as min_k_pp
    from auditor.probes.mia.zlib_ratio import zlib_score

    torch.set_num_threads(threads)
    lm = load_model(ModelSpec(model_name, device="cpu"))
    texts = load_texts(model_name, n, tokens, lm.tokenizer)
    n_tok = sum(len(x) for x in lm.tokenizer(texts)["input_ids"])

    def attacks(st):
        inp = AttackInputs(target=st)
        return [np.array([a.mean() for a in st.logprob]), zlib_score(inp), min_k(inp, k=0.2), min_k_pp(inp, k=0.2)]

    compute_token_stats(lm.model, lm.tokenizer, texts[:2], batch_size=2)  # warm-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if variant == "ours":
        attacks(compute_token_stats(lm.model, lm.tokenizer, texts, batch_size=batch))
    elif variant == "batch-1 loop":
        for t in texts:
            attacks(compute_token_stats(lm.model, lm.tokenizer, [t], batch_size=1))
    else:  # a pass per attack
        for t in texts:
            for _ in range(4):
                attacks(compute_token_stats(lm.model, lm.tokenizer, [t], batch_size=1))
    sec = time.perf_counter() - t0
    params = sum(p.numel() for name, p in lm.model.named_parameters() if "embed" not in name)
    head = lm.model.get_output_embeddings().weight.numel()
    flop_per_token = 2 * (params + (head if lm.model.config.tie_word_embeddings else 0))
    return {
        "variant": variant,
        "seconds": sec,
        "tokens": n_tok,
        "tokens_per_s": n_tok / sec,
        "gflops": flop_per_token * n_tok / sec / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss0 / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--tokens", type=int, help="make texts of exactly this many tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.model, a.texts, a.tokens, a.threads, a.batch)))
        return
    bound = matmul_gflops(a.threads)
    rows = []
    for v in ("ours", "batch-1 loop", "pass per attack"):
        cmd = [
            sys.executable,
            __file__,
            "--variant",
            v,
            "--model",
            a.model,
            "--texts",
            str(a.texts),
            "--threads",
            str(a.threads),
            "--batch",
            str(a.batch),
        ] + (["--tokens", str(a.tokens)] if a.tokens else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
    base = rows[1]["tokens_per_s"]
    print(
        f"model={a.model} texts={a.texts} tokens={rows[0]['tokens']} threads={a.threads} batch={a.batch} "
        f"matmul bound={bound:.0f} GFLOP/s"
    )
    print(f"{'variant':<16} {'tokens/s':>9} {'vs batch-1':>10} {'GFLOP/s':>8} {'% bound':>8} {'peak RSS MB':>11}")
    for r in rows:
        print(
            f"{r['variant']:<16} {r['tokens_per_s']:9.0f} {r['tokens_per_s'] / base:9.2f}x {r['gflops']:8.1f} "
            f"{100 * r['gflops'] / bound:7.1f}% {r['peak_rss_mb']:11.0f}"
        )


if __name__ == "__main__":
    main()
