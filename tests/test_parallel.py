"""Data parallelism: a sweep under ``accelerate launch`` with 2 CPU processes (gloo) equals 1 process.

Also the pieces: ``shard_map`` is the identity without a process group, and a resumed 2-process run
(records cut back as a crash would leave them) ends with the same records and no duplicate.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from auditor.store import parallel

LAB = Path(__file__).resolve().parents[1] / "auditor" / "lab" / "standard"


def _sweep(data: Path) -> list[str]:
    """A sweep over explicit small files (no ``lab:``): every sharded family, both pruning broadcasts
    (wanda's masks, sparsegpt's updated weights)."""
    return ["sweep", "--model", str(LAB / "model"), "--families", "mia,extraction,exposure,fact_recall",
            "--methods", "wanda,sparsegpt", "--sparsities", "0,0.5", "--device", "cpu",
            "--attacks", "loss,zlib,min_k_pp@0.2", "--members", str(data / "members.jsonl"),
            "--nonmembers", str(data / "nonmembers.jsonl"), "--extraction-data", str(data / "members.jsonl"),
            "--canaries", str(data / "canaries.jsonl"), "--calibration", str(data / "calibration.jsonl"),
            "--limit", "6", "--prefix-lens", "8,16", "--suffix-len", "16"]  # fmt: skip


def _data(folder: Path) -> Path:
    folder.mkdir()
    for name, n in (("members", 9), ("nonmembers", 9), ("canaries", 5), ("calibration", 8)):
        lines = (LAB / f"{name}.jsonl").read_text().splitlines()[:n]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _env() -> dict:
    return os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one(out: Path, data: Path) -> None:
    subprocess.run([sys.executable, "-m", "auditor", "-q", *_sweep(data), "--out", str(out)], check=True, env=_env())


def _two(out: Path, data: Path) -> subprocess.CompletedProcess:
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", str(_port()), "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "-m", "auditor", "-q"]  # fmt: skip
    cmd = [*launch, *_sweep(data), "--out", str(out)]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)  # a hang fails
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _records(run: Path) -> dict[tuple, dict]:
    out = {}
    for r in _jsonl(run / "records.jsonl"):
        if r.get("_empty"):
            continue
        key = (r["_unit"], r["family"], r["task"], r["metric"])
        assert key not in out, f"duplicate record {key}"
        out[key] = r
    return out


def _close(a: object, b: object, tol: float = 1e-5) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (a is None and b is None) or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1, abs(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b


def _samples(run: Path) -> dict[str, dict[str, list[dict]]]:
    """Per samples file, per unit, its rows in order (shard_map gives them back in input order)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for f in sorted((run / "samples").glob("*.jsonl")):
        units: dict[str, list[dict]] = {}
        for r in _jsonl(f):
            units.setdefault(r["_unit"], []).append(r)
        for u, rows in units.items():
            assert len(rows) == rows[0]["_unit_size"], f"unit {u} of {f.name} is incomplete or duplicated"
        out[f.name] = units
    return out


def test_shard_map_without_a_process_group_is_the_identity():
    assert parallel.world() == 1 and parallel.is_main()
    assert parallel.shard_map([3, 1, 2], lambda xs: [x * 10 for x in xs]) == [30, 10, 20]
    assert parallel.gather_objects({"a": 1}) == [{"a": 1}]


@pytest.mark.slow
def test_two_processes_under_accelerate_equal_one_process_and_resume(tmp_path):
    one, two, data = tmp_path / "one", tmp_path / "two", _data(tmp_path / "data")
    _one(one, data)
    _two(two, data)
    assert json.loads((two / "manifest.json").read_text())["processes"] == 2
    assert json.loads((one / "manifest.json").read_text())["processes"] == 1
    r1, r2 = _records(one), _records(two)
    assert r1.keys() == r2.keys() and len(r1) > 40
    for k in r1:
        assert _close(r1[k]["value"], r2[k]["value"]), (k, r1[k]["value"], r2[k]["value"])
        assert r1[k]["sparsity"] == r2[k]["sparsity"] and r1[k]["n"] == r2[k]["n"]
    s1, s2 = _samples(one), _samples(two)
    assert s1.keys() == s2.keys() and {
        "mia_scores.jsonl",
        "extraction.jsonl",
        "exposure.jsonl",
        "capability.jsonl",
    } <= set(s1)
    for name in s1:
        assert s1[name].keys() == s2[name].keys(), name
        bad = [k for k in s1[name] if not _close(s1[name][k], s2[name][k])]
        assert not bad, (name, bad[:3])
    assert json.loads((two / "sweep.json").read_text()) == json.loads((one / "sweep.json").read_text())

    # a crash after half the units: the 2-process run resumes to the same records, nothing duplicated
    lines = (two / "records.jsonl").read_text().splitlines(keepends=True)
    units = list(dict.fromkeys(json.loads(x)["_unit"] for x in lines))
    keep = set(units[: len(units) // 2])
    (two / "records.jsonl").write_text("".join(x for x in lines if json.loads(x)["_unit"] in keep))
    _two(two, data)
    r3 = _records(two)
    assert r3.keys() == r1.keys() and all(_close(r1[k]["value"], r3[k]["value"]) for k in r1)


def _units_written(run: Path) -> int:
    try:
        lines = (run / "records.jsonl").read_text().splitlines()
    except OSError:
        return 0
    units = set()
    for x in lines:
        try:
            units.add(json.loads(x)["_unit"])
        except (ValueError, KeyError):
            pass  # a torn last line
    return len(units)


def _kill_after(out: Path, data: Path, units: int) -> None:
    """Start the 2-process sweep and SIGKILL the launcher and both workers once ``units`` units are on disk."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", str(_port()), "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "-m", "auditor", "-q", *_sweep(data), "--out", str(out)]  # fmt: skip
    child = subprocess.Popen(launch, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while _units_written(out) < units:
            assert child.poll() is None, f"the sweep ended before {units} units were written"
            time.sleep(0.05)
    finally:  # the launcher and every worker (torch's elastic agent starts them in sessions of their own)
        procs = [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]
        for p in procs:
            p.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=60)


def _outputs(run: Path) -> dict[str, bytes]:
    """Every output file's bytes; the run's JSON files without their creation time (when, not what)."""
    out = {}
    for f in sorted(p for p in run.rglob("*") if p.is_file() and not p.name.startswith(".memaudit")):
        data = f.read_bytes()
        if f.suffix == ".json" and f.parent == run:  # manifest.json, summary.json: when, not what
            doc = json.loads(data)
            doc.pop("created", None)
            data = json.dumps(doc, sort_keys=True).encode()
        out[str(f.relative_to(run))] = data
    return out


@pytest.mark.slow
def test_two_processes_killed_and_resumed_end_identical_on_every_output_file(tmp_path):
    data, out = _data(tmp_path / "data"), tmp_path / "run"
    _two(out, data)
    reference = _outputs(out)
    assert {"records.jsonl", "sweep.json", "summary.json", "samples/mia_scores.jsonl"} <= set(reference)
    for units in (1, 6):  # killed after the first unit, then mid-way through the pruned points
        shutil.rmtree(out)
        _kill_after(out, data, units)
        assert _units_written(out) < 12, "the kill came after the sweep ended"
        done = _two(out, data)
        assert _outputs(out) == reference, f"killed after {units} units"
        assert done.stdout.count("records:") == 1  # only the main process prints its table and lines
