"""The native capability evaluator against a batch-1 loop and against lm-eval, on the same tasks and model.

Prints, per family, items/s for the native evaluator at batch 1 and batch 16 and for lm-eval (HFLM on
the in-memory model, batch 16), and the per-item agreement of lm-eval with the native evaluator, all
measured in this one run (ratios, not absolute times, are what to compare).

    python benches/bench_capability.py [--model lab] [--source lab] [--limit 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from auditor.capability.builders import CapabilityConfig, build_task
from auditor.capability.evaluate import evaluate_task
from auditor.capability.lmeval import run_lm_eval, write_lm_eval_tasks
from auditor.capability.schema import FAMILIES
from auditor.lab.build import SHIPPED_DIR
from auditor.models.load import ModelSpec, load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--source", choices=("lab", "real"), default="lab")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    torch.set_num_threads(a.threads)
    lm = load_model(ModelSpec(a.model, device="cpu"))
    cfg = CapabilityConfig(source=a.source, limit=a.limit)
    tasks = [build_task(f, cfg, SHIPPED_DIR if a.source == "lab" else None) for f in FAMILIES]
    print(f"model {a.model}, source {a.source}, {a.limit} items per family, {a.threads} thread(s)\n")
    print("| family | native b=1 items/s | native b=16 items/s | lm-eval b=16 items/s | b16 / b1 | agreement |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for t in tasks:
            times = {}
            for bs in (1, 16):
                t0 = time.perf_counter()
                res = evaluate_task(lm.model, lm.tokenizer, t, batch_size=bs)
                times[bs] = time.perf_counter() - t0
            names = write_lm_eval_tasks([t], d)
            t0 = time.perf_counter()
            le = run_lm_eval(lm.model, lm.tokenizer, names[:1], include_path=d, batch_size=16)[names[0]]
            t_le = time.perf_counter() - t0  # includes lm-eval's task set-up
            agree = sum(le.per_item[i] == r["correct"] for i, r in enumerate(res.items)) / res.n
            n = res.n
            print(
                f"| {t.family} | {n / times[1]:.1f} | {n / times[16]:.1f} | {n / t_le:.1f} | "
                f"{times[1] / times[16]:.1f}x | {agree:.3f} |"
            )


if __name__ == "__main__":
    main()
