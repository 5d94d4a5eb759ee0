"""Membership statistics at scale: our AUC against scikit-learn's ``roc_auc_score``, and the bootstrap CI.

Scores are rounded to 2 decimals so there are many ties (as real per-text scores often have). Sides
alternate within each repetition; min and median over the repetitions are printed, with the ratio.

    python benches/bench_stats.py [--sizes 10000,100000] [--reps 5] [--boot 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from auditor.metrics import auc, bootstrap_ci


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="members (= non-members) per size")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples timed (1,000 is the default CI)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'n per class':>11} {'ours min/med ms':>16} {'sklearn min/med ms':>19} {'ratio (med)':>11} "
          f"{'same AUC':>8} {'bootstrap s/1000':>16}")  # fmt: skip
    for n in (int(x) for x in a.sizes.split(",")):
        m, nm = np.round(rng.normal(0.1, 1, n), 2), np.round(rng.normal(0, 1, n), 2)
        y, s = np.r_[np.ones(n), np.zeros(n)], np.r_[m, nm]
        ours, theirs = [], []
        for i in range(a.reps):
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                if side == 0:
                    t, v_ours = timed(auc, m, nm)
                    ours.append(t)
                else:
                    t, v_theirs = timed(roc_auc_score, y, s)
                    theirs.append(t)
        t_boot, _ = timed(bootstrap_ci, m, nm, auc, a.boot, 0)
        med_o, med_t = statistics.median(ours), statistics.median(theirs)
        same = abs(v_ours - v_theirs) < 1e-12
        print(f"{n:>11} {min(ours) * 1e3:7.1f}/{med_o * 1e3:<8.1f} {min(theirs) * 1e3:9.1f}/{med_t * 1e3:<9.1f} "
              f"{med_t / med_o:11.2f} {same!s:>8} {t_boot * 1000 / a.boot:16.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
