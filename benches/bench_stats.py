"""Membership statistics at scale: our AUC against scikit-learn's ``roc_auc_score``, and the bootstrap.

Per size (members = non-members) and kind of score (rounded to 2 decimals, so many ties as real per-text
scores often have, or continuous), the table gives:

- AUC: ours against scikit-learn, min/median ms, the median ratio and whether the values agree;
- bootstrap of AUC, 1,000 resamples: the vectorized ``bootstrap_figures`` against the earlier loop (one
  ``auc`` call per resample, transcribed below), the loop timed on ``--loop-boot`` resamples and scaled to
  1,000 (marked ``~``), and the speed-up of medians;
- AUC + TPR CIs: ``bootstrap_figures`` with TPR at 1% and 0.1% FPR from the same resamples, 1,000 resamples.

Sides alternate within each repetition (AUC: ``--reps``, bootstrap: ``--boot-reps``); min and median over
the repetitions are printed.

    python benches/bench_stats.py [--sizes 10000,100000] [--kinds 2dp,continuous] [--reps 5] [--boot-reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from auditor.stats.bootstrap import bootstrap_figures
from auditor.stats.metrics import auc

N_BOOT = 1000


def timed(fn: Callable, *args: object) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def loop_bootstrap(m: np.ndarray, n: np.ndarray, n_boot: int, seed: int) -> list[float]:
    """The bootstrap before vectorizing: one ``auc`` per resample (same random stream)."""
    rng = np.random.default_rng(seed)
    return [auc(m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)]) for _ in range(n_boot)]


def alternate(sides: list[Callable[[], float]], reps: int) -> list[list[float]]:
    """Seconds of each side per repetition, the order reversed every other repetition."""
    out: list[list[float]] = [[] for _ in sides]
    for i in range(reps):
        order = range(len(sides)) if i % 2 == 0 else reversed(range(len(sides)))
        for j in order:
            out[j].append(sides[j]())
    return out


def mm(ts: list[float], scale: float = 1.0, unit: float = 1.0) -> str:
    """``min/median`` of ``ts`` x ``scale`` in units of ``unit`` seconds."""
    return f"{min(ts) * scale / unit:.2f}/{statistics.median(ts) * scale / unit:.2f}"


def scores(rng: np.random.Generator, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    m, nm = rng.normal(0.1, 1, n), rng.normal(0, 1, n)
    return (np.round(m, 2), np.round(nm, 2)) if kind == "2dp" else (m, nm)


def row(n: int, kind: str, a: argparse.Namespace) -> str:
    m, nm = scores(np.random.default_rng(0), n, kind)
    y, s = np.r_[np.ones(n), np.zeros(n)], np.r_[m, nm]
    got: dict[str, float] = {}

    def ours() -> float:
        t, got["ours"] = timed(auc, m, nm)
        return t

    def theirs() -> float:
        t, got["sk"] = timed(roc_auc_score, y, s)
        return t

    t_ours, t_sk = alternate([ours, theirs], a.reps)
    vec = lambda: timed(bootstrap_figures, m, nm, N_BOOT, 0)[0]  # noqa: E731
    loop = lambda: timed(loop_bootstrap, m, nm, a.loop_boot, 0)[0]  # noqa: E731
    tpr = lambda: timed(bootstrap_figures, m, nm, N_BOOT, 0, (0.01, 0.001))[0]  # noqa: E731
    t_vec, t_loop, t_tpr = alternate([vec, loop, tpr], a.boot_reps)
    scale = N_BOOT / a.loop_boot
    speedup = statistics.median(t_loop) * scale / statistics.median(t_vec)
    same = abs(got["ours"] - got["sk"]) < 1e-12
    loop_s = ("~" if scale != 1 else "") + mm(t_loop, scale)
    return (f"{n:>8} {kind:>10} {mm(t_ours, unit=1e-3):>13} {mm(t_sk, unit=1e-3):>13} "
            f"{statistics.median(t_sk) / statistics.median(t_ours):>6.2f} {same!s:>5} {mm(t_vec):>12} "
            f"{loop_s:>13} {speedup:>7.1f} {mm(t_tpr):>12}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="members (= non-members) per size")
    ap.add_argument("--kinds", default="2dp,continuous", help="2dp (rounded, many ties) and/or continuous")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the AUC timings")
    ap.add_argument("--boot-reps", type=int, default=3, help="repetitions of the bootstrap timings")
    ap.add_argument("--loop-boot", type=int, default=50, help="resamples the old loop is timed on (scaled to 1,000)")
    a = ap.parse_args()
    print(f"bootstrap columns: seconds for {N_BOOT:,} resamples, min/median of {a.boot_reps}; AUC: ms, of {a.reps}")
    print(f"{'n/class':>8} {'scores':>10} {'AUC ours ms':>13} {'sklearn ms':>13} {'ratio':>6} {'same':>5} "
          f"{'boot AUC s':>12} {'old loop s':>13} {'speedup':>7} {'AUC+TPR s':>12}")  # fmt: skip
    for n in (int(x) for x in a.sizes.split(",")):
        for kind in a.kinds.split(","):
            print(row(n, kind, a), flush=True)


if __name__ == "__main__":
    main()
