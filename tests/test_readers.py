"""Readers respect the writer's lock: ``auditor gate`` and ``auditor report`` on a run another process is
writing are refused with one line (exit 2), so no verdict or report ever rests on half a run.

The writer is a real ``auditor sweep`` in a child process, held still after its first unit is written (its
``RunDir.write`` waits for a file), so the timing is decided by the test, never by the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import OutputError
from auditor.store.outdir import FolderLock, reading

LAB = Path(__file__).resolve().parents[1] / "auditor" / "lab" / "standard"

# The child runs the sweep with RunDir.write pausing after the first unit: it touches PAUSED, waits for GO.
CHILD = """
import sys, time
from pathlib import Path
import auditor.store.runs as runs
paused, go = Path(sys.argv[1]), Path(sys.argv[2])
original = runs.RunDir.write
def write(self, unit, records):
    original(self, unit, records)
    if not paused.exists():
        paused.write_text(unit)
        while not go.exists():
            time.sleep(0.05)
runs.RunDir.write = write
from auditor.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def _sweep(out: Path) -> list[str]:
    return ["-q", "sweep", "--model", str(LAB / "model"), "--families", "mia", "--methods", "magnitude",
            "--sparsities", "0,0.5", "--members", str(LAB / "members.jsonl"), "--nonmembers",
            str(LAB / "nonmembers.jsonl"), "--limit", "8", "--attacks", "loss",
            "--device", "cpu", "--out", str(out)]  # fmt: skip


def _lenient(tmp_path: Path) -> str:
    """A policy a half-written run would pass: any AUC, one item enough, undecided counted as passing."""
    path = tmp_path / "lenient.yaml"
    path.write_text(json.dumps({"rules": ["mia.loss.auc <= 1.0"], "min_n": 1, "inconclusive": "pass"}))
    return str(path)


def _wait_for(path: Path, child: subprocess.Popen, limit: float = 300.0) -> None:
    start = time.monotonic()
    while not path.exists():
        if child.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {child.returncode}) before its first unit was written")
        if time.monotonic() - start > limit:
            raise AssertionError("the sweep wrote no unit in time")
        time.sleep(0.1)


@pytest.mark.slow
def test_gate_and_report_during_a_sweeps_write_give_no_verdict(tmp_path: Path, capsys) -> None:
    out, paused, go = tmp_path / "run", tmp_path / "paused", tmp_path / "go"
    env = os.environ | {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    argv = [sys.executable, "-c", CHILD, str(paused), str(go), *_sweep(out)]
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(paused, child)
        policy = _lenient(tmp_path)
        for argv_ in (["gate", str(out), "--policy", policy, "--replace"], ["report", str(out)]):
            assert main(argv_) == 2
            err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
            assert len(err) == 1 and "is being written by another memaudit process" in err[0], err
        assert not (out / "gates").exists() and not (out / "gate.json").exists()
        assert not (out / "report.html").exists() and not (out / "report.md").exists()
    finally:
        go.write_text("go")
        _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err.decode()[-2000:]
    assert main(["gate", str(out), "--policy", _lenient(tmp_path)]) == 0  # the finished run is judged
    assert "gate: PASS" in capsys.readouterr().out


def test_a_writer_is_refused_while_another_reads_and_starts_once_it_is_done(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    FolderLock(folder).release()  # a run folder with its lock file, no writer now
    with reading(folder):  # a reader's shared OS lock: a writer (its own exclusive lock) must not start
        with pytest.raises(OutputError, match="in use by another memaudit process"):
            FolderLock(folder)
    FolderLock(folder).release()  # the reader is gone: the writer starts


def test_a_process_reads_the_folder_it_writes(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "run")  # an audit reporting on itself: its own lock does not stop it
    with reading(tmp_path / "run"):
        pass
    lock.release()


def test_a_folder_never_locked_is_read_without_creating_a_lock_file(tmp_path: Path) -> None:
    with reading(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []
