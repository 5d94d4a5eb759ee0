"""A 10-point magnitude sweep: prune-in-memory-and-restore against reloading the checkpoint per point.

Both variants run the same tiny probe at every point (mean NLL of --texts lab texts, default 2) so the
outputs can be compared and the table shows the per-point overhead: seconds for the whole sweep and the ratio.

    python benches/bench_sweep.py [--model lab] [--points 10]
"""

from __future__ import annotations

import argparse
import time

import torch

from auditor.lab.build import SHIPPED_DIR, load_lab_files
from auditor.lm.scoring import mean_nll
from auditor.models import ModelSpec, load_model
from auditor.pruning import PruneSpec
from auditor.pruning.apply import apply_masks
from auditor.pruning.engine import Pruning, select_targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="lab")
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--texts", type=int, default=2, help="texts scored at each point (the probe)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    texts = [x["text"] for x in load_lab_files(SHIPPED_DIR)["members"][: a.texts]]
    sparsities = [i / a.points for i in range(a.points)]

    t0 = time.perf_counter()
    lm = load_model(ModelSpec(a.model, device="cpu"))
    pr = Pruning(lm.model, "magnitude")
    ours = []
    for s in sparsities:
        with pr.at(PruneSpec(sparsity=s)):
            ours.append(sum(mean_nll(lm.model, lm.tokenizer, texts)))
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    reload = []
    for s in sparsities:
        lm2 = load_model(ModelSpec(a.model, device="cpu"))
        mods = select_targets(lm2.model, PruneSpec(sparsity=s))
        pr2 = Pruning(lm2.model, "magnitude")
        if s > 0:
            apply_masks(mods, pr2.pruner.masks(pr2.scores, PruneSpec(sparsity=s)))
        reload.append(sum(mean_nll(lm2.model, lm2.tokenizer, texts)))
    t_reload = time.perf_counter() - t0
    same = all(abs(x - y) < 1e-6 for x, y in zip(ours, reload, strict=True))
    print(f"model={a.model} points={a.points} threads={a.threads} identical outputs={same}")
    print(f"{'variant':<28} {'seconds':>8} {'speed-up':>9}")
    print(f"{'reload per point':<28} {t_reload:8.2f} {1.0:8.1f}x")
    print(f"{'prune in memory + restore':<28} {t_ours:8.2f} {t_reload / t_ours:8.1f}x")


if __name__ == "__main__":
    main()
