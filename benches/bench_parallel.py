"""Data parallelism on this machine: the same sweep with 1 process and with 2 (``accelerate launch``).

Runs ``auditor sweep`` on the shipped lab (families mia, extraction, exposure, fact_recall; wanda at 0
and 0.5) once with one process and once under ``accelerate launch --multi_gpu --num_processes 2`` (gloo
on the CPU), alternating, ``--reps`` times each, every process with ``--threads`` torch threads, and
prints wall seconds (min and median). Three sides: 1 process with ``--threads`` threads, 1 process with
twice as many (the same cores as two processes), and 2 processes with ``--threads`` each. On a 2-core
CPU two 1-thread processes cannot beat one 2-thread process by much: the point here is that sharding
costs little; the speed-up is on GPUs.

    python benches/bench_parallel.py [--limit 48] [--reps 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(limit: int) -> list[str]:
    return ["sweep", "--model", "lab", "--families", "mia,extraction,exposure,fact_recall", "--methods", "wanda",
            "--sparsities", "0,0.5", "--device", "cpu", "--attacks", "loss,zlib,min_k_pp@0.2", "--limit",
            str(limit)]  # fmt: skip


def run(n: int, out: Path, limit: int, threads: int) -> float:
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    head = [sys.executable, "-m", "auditor", "-q"]
    if n > 1:
        launch = ["accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n), "--num_machines", "1",
                  "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
        head = [sys.executable, "-m", *launch, "-m", "auditor", "-q"]
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([*head, *sweep(limit), "--out", str(out)], check=True, env=env, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=48)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    a = ap.parse_args()
    sides = [(1, a.threads), (1, 2 * a.threads), (2, a.threads)]
    times: dict[tuple[int, int], list[float]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.reps):
            for n, th in sides:  # alternate the sides
                times[(n, th)].append(run(n, Path(tmp) / f"p{n}-{th}", a.limit, th))
    print(f"sweep on the lab, --limit {a.limit}, {a.reps} run(s) each")
    print(f"{'processes x threads':<22}{'min s':>8}{'median s':>10}{'vs 2 processes':>16}")
    best2 = min(times[(2, a.threads)])
    for (n, th), ts in times.items():
        print(f"{f'{n} x {th}':<22}{min(ts):>8.1f}{statistics.median(ts):>10.1f}{min(ts) / best2:>15.2f}x")


if __name__ == "__main__":
    main()
