"""Reliability: kill -9 a run at a random moment, resume it, and compare every output file with a run
that was never interrupted.

For each job (a small sweep on the shipped lab, and ``auditor mia``) it first runs the job once without
interruption (the reference) and times it; then, N times, it starts the same command in a fresh folder,
sends SIGKILL after a random delay within the reference's run time, reruns the command to completion,
and compares the folder with the reference file by file:

* ``*.jsonl`` (records, samples): the parsed rows, in order;
* ``*.json`` (``sweep.json``, ``mia.json``, ``capability.json``, the manifest): the parsed objects,
  without the fields that name a moment or a machine (``created``, ``platform``, ``git_sha``) and the
  manifest's ``config.out`` (each trial's own folder); its identity, hash, config and counts are compared;
* every other file (plots): byte for byte.

A trial counts only if the kill landed before the run finished. The table prints ``N/N identical``.
With ``--processes 2`` every run goes through ``accelerate launch`` with 2 CPU processes (gloo), and a kill
is SIGKILL to the launcher and every worker at once.

    python benches/kill_trials.py --trials 10
    python benches/kill_trials.py --trials 5 --processes 2 --only sweep
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

VOLATILE = {"created", "platform", "git_sha"}
SKIP_FILES = {".memaudit.lock"}


def lab_data(work: Path, n: int) -> tuple[Path, Path]:
    """The first ``n`` members and non-members of the shipped lab, as files a user would pass."""
    from auditor.lab.build import SHIPPED_DIR

    out = []
    for name in ("members", "nonmembers"):
        rows = (SHIPPED_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        path = work / f"{name}.jsonl"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out.append(path)
    return out[0], out[1]


def launcher(processes: int) -> list[str]:
    """The command prefix: this Python, or ``accelerate launch`` with ``processes`` CPU processes."""
    if processes == 1:
        return [sys.executable, "-m", "auditor.cli", "-q"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--main_process_port", str(port), "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", "-m", "auditor", "-q"]  # fmt: skip


def jobs(work: Path, n: int, processes: int = 1) -> dict[str, list[str]]:
    members, nonmembers = lab_data(work, n)
    cli = launcher(processes)
    return {
        "sweep": [*cli, "sweep", "--model", "lab", "--families", "mia,extraction,fact_recall", "--methods",
                  "magnitude,wanda", "--sparsities", "0,0.5", "--limit", str(n), "--device", "cpu",
                  "--attacks", "loss,min_k_pp@0.2"],
        "mia": [*cli, "mia", "--model", "lab", "--members", str(members), "--nonmembers", str(nonmembers),
                "--batch-size", "4", "--device", "cpu", "--attacks", "loss,zlib,min_k@0.2,min_k_pp@0.2,recall",
                "--n-boot", "200"],
    }  # fmt: skip


def _clean(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def snapshot(folder: Path) -> dict[str, object]:
    """Every output file of a run folder, in the comparable form described above."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name in SKIP_FILES:
            continue
        rel = str(p.relative_to(folder))
        if p.suffix == ".jsonl":
            out[rel] = [_clean(json.loads(x)) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
        elif p.suffix == ".json" or p.name == ".memaudit":
            obj = _clean(json.loads(p.read_text(encoding="utf-8")))
            if rel == "manifest.json":
                obj["config"].pop("out", None)  # the folder's own path differs between trials by design
            out[rel] = obj
        else:
            out[rel] = p.read_bytes()
    return out


def differences(a: dict, b: dict) -> list[str]:
    names = sorted(set(a) | set(b))
    return [n for n in names if a.get(n) != b.get(n)]


def run(cmd: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def trial(cmd: list[str], out: Path, delay: float) -> bool:
    """Start, SIGKILL after ``delay`` s, resume to the end; True if the kill landed mid-run."""
    proc = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        # the launcher and every worker (torch's elastic agent may start them in sessions of their own)
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in procs:
            p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=60)
        proc.wait()
        killed = True
    run(cmd, out)
    return killed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--texts", type=int, default=24, help="members and non-members (and items per family)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("sweep", "mia"), help="one job only")
    ap.add_argument("--processes", type=int, default=1, help="2: every run under accelerate launch (2 CPU processes)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = Path(tempfile.mkdtemp(prefix="memaudit-kill-"))
    rows = []
    try:
        for name, cmd in jobs(work, a.texts, a.processes).items():
            if a.only and name != a.only:
                continue
            ref_dir = work / f"{name}-reference"
            seconds = reference_s = run(cmd, ref_dir)
            ref = snapshot(ref_dir)
            same = landed = 0
            bad: list[str] = []
            tries = 0
            while landed < a.trials and tries < 3 * a.trials:
                tries += 1
                out = work / f"{name}-trial{tries}"
                # kill after the import and model load (a few seconds) and before the end
                if not trial(cmd, out, rng.uniform(0.15 * seconds, 0.7 * seconds)):
                    shutil.rmtree(out)
                    seconds *= 0.7  # the reference ran slow (a busy machine): aim earlier
                    continue
                landed += 1
                diff = differences(ref, snapshot(out))
                same += not diff
                bad += diff
                shutil.rmtree(out)
            rows.append((name, reference_s, same, landed, sorted(set(bad))))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"processes: {a.processes}")
    print(f"{'job':<6} {'reference s':>11}  result")
    for name, seconds, same, landed, bad in rows:
        print(f"{name:<6} {seconds:11.1f}  {same}/{landed} identical (records, samples and summaries)"
              + (f"; differing: {', '.join(bad)}" if bad else ""))  # fmt: skip
    return 0 if all(s == n and n > 0 for _, _, s, n, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
