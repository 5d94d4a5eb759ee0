"""Batched vs one-text-at-a-time teacher-forced scoring on the shipped lab model.

Prints a table of tokens/s for ``auditor.lm.scoring.mean_nll`` at several batch sizes against a
batch-1 loop, all measured in this one run (ratios, not absolute times, are what to compare).

    python benches/bench_scoring.py [--model lab] [--texts 600] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from auditor.lab.build import SHIPPED_DIR, load_lab_files
from auditor.lm.scoring import mean_nll
from auditor.models.load import ModelSpec, load_model


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lm = load_model(ModelSpec(a.model, device="cpu"))
    files = load_lab_files(SHIPPED_DIR)
    texts = [x["text"] for x in files["members"] + files["nonmembers"]][: a.texts]
    n_tokens = sum(len(x) for x in lm.tokenizer(texts)["input_ids"])
    mean_nll(lm.model, lm.tokenizer, texts[:8], batch_size=8)  # warm-up
    rows = [("batch-1 loop", _timed(lambda: [mean_nll(lm.model, lm.tokenizer, [t], 1) for t in texts]))]
    for bs in (8, 32, 128):
        rows.append((f"batched, batch {bs}", _timed(lambda bs=bs: mean_nll(lm.model, lm.tokenizer, texts, bs))))
    base = rows[0][1]
    print(f"model={a.model} texts={len(texts)} tokens={n_tokens} threads={a.threads}")
    print(f"{'variant':<20} {'seconds':>8} {'tokens/s':>10} {'speed-up':>9}")
    for name, sec in rows:
        print(f"{name:<20} {sec:8.2f} {n_tokens / sec:10.0f} {base / sec:8.1f}x")


if __name__ == "__main__":
    main()
