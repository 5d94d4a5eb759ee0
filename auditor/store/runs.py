"""Run directories: a manifest, append-only records written as results come, and resume.

Layout of a run directory::

    manifest.json     resolved config, versions, git sha, device, seeds, checkpoint fingerprint
    records.jsonl     one line per (checkpoint, method, sparsity, family, task, metric)
    samples/*.jsonl   per-example outputs

Crash safety. Results are written in *units* (e.g. "every MIA metric at sparsity 0.3"). A unit's
lines are appended with one ``write`` and ``fsync``'d; each line carries the unit's key and size.
On reopening, a unit whose lines are not all present (a kill mid-write) is dropped, as is a
truncated last line, so a kill at any moment loses at most the unit in flight and a resumed run
never duplicates a record. JSON files (manifest, reports' data) are written atomically via a
temporary file and ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Protocol

import auditor.models.parallel as parallel
import auditor.store.outdir as outdir
from auditor.errors import RunDirError
from auditor.store.atomic import atomic_write_json, atomic_write_text  # noqa: F401 (re-exported)
from auditor.store.identity import inputs_identity

RECORDS = "records.jsonl"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Record:
    """One measured figure. ``sparsity`` is the actual sparsity (0.0 for the dense model)."""

    family: str  # mia | extraction | fact_recall | icl | unlearning | lab
    task: str  # attack or task name, e.g. "loss", "open_book"
    metric: str  # auc | tpr@1%fpr | accuracy | ...
    value: float | None
    n: int | None = None
    ci: tuple[float, float] | None = None
    checkpoint: str = "model"
    method: str = "dense"
    sparsity: float = 0.0
    requested_sparsity: float | None = None
    extra: dict = field(default_factory=dict)

    def key(self) -> tuple:
        return (self.checkpoint, self.method, round(self.sparsity, 6), self.family, self.task, self.metric)


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("memaudit", "torch", "transformers", "accelerate", "datasets", "lm-eval", "tokenizers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def parse_units(path: Path) -> tuple[list[dict], set[str], bool]:
    """The rows of a unit log's complete units, those units, and whether the file holds anything else
    (a line cut by a kill, an incomplete unit). A missing file is empty."""
    if not path.exists():
        return [], set(), False
    raw = path.read_bytes()
    good: list[dict] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    by_unit: dict[str, list[dict]] = defaultdict(list)
    for row in good:
        by_unit[row["_unit"]].append(row)
    complete = {u for u, rows in by_unit.items() if len(rows) == rows[0]["_unit_size"]}
    kept = [r for r in good if r["_unit"] in complete]
    return kept, complete, len(kept) != len(good) or (bool(raw) and not raw.endswith(b"\n"))


def log_rows(path: str | Path) -> list[dict]:
    """A unit log's complete rows, for readers: the ``_unit`` fields and the markers of empty units dropped;
    no repair and no process-group sync, so a report built on the main process alone can read it."""
    rows = parse_units(Path(path))[0]
    return [{k: v for k, v in r.items() if not k.startswith("_unit")} for r in rows if not r.get("_empty")]


class UnitLog:
    """An append-only JSONL file of units; complete units only are visible after reopening. For appending
    (the loop's records and samples); readers use :func:`log_rows`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rows: list[dict] = []
        self._units: set[str] = set()
        self._load_and_repair()
        # Data parallel: every process has read the file before any of them can append to it. Without this,
        # a process that opens the file late (after the main one wrote a unit) would skip that unit's
        # append and its barrier, and the processes' collectives would fall out of step (a deadlock).
        parallel.barrier()

    def _load_and_repair(self) -> None:
        kept, complete, damaged = parse_units(self.path)
        if damaged and parallel.is_main():  # a line cut by a kill, or an incomplete unit: rewrite without it
            tmp = self.path.with_suffix(".repair")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
            os.replace(tmp, self.path)
        self._rows = kept
        self._units = complete

    def has(self, unit: str) -> bool:
        return unit in self._units

    def rows(self) -> list[dict]:
        return [{k: v for k, v in r.items() if not k.startswith("_unit")} for r in self._rows]

    def append(self, unit: str, rows: list[dict]) -> None:
        """Append a whole unit. Appending a unit that is already complete is an error.

        Under data parallelism every process appends the same (gathered) unit; only the main one writes,
        and all wait for the write, so a file reopened afterwards shows the unit on every process."""
        if unit in self._units:
            raise RunDirError(f"unit {unit!r} is already recorded in {self.path}")
        if not rows:
            rows = [{"_empty": True}]
        tagged = [{**r, "_unit": unit, "_unit_size": len(rows)} for r in rows]
        if parallel.is_main():
            data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in tagged).encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        parallel.barrier()
        self._rows.extend(tagged)
        self._units.add(unit)


class SampleLog(Protocol):
    """What probes write per-example rows to: a ``UnitLog``, or a point's view of one."""

    def has(self, unit: str) -> bool: ...

    def append(self, unit: str, rows: list[dict]) -> None: ...

    def rows(self) -> list[dict]: ...


class RunDir:
    """A run directory. Reopening one written for the same config and inputs resumes it.

    ``identity``: what the results depend on beyond the config, by content (input file hashes,
    checkpoint fingerprint, dtype, device class); default: the hashes of every file the config names.
    A folder holding results for another config or other inputs is refused before anything is measured.
    ``sources``: model folders being read, which the run folder must not be, contain or lie in.
    The folder is locked (:class:`~auditor.store.outdir.FolderLock`) while this object lives.
    """

    def __init__(
        self,
        path: str | Path,
        config: dict,
        *,
        overwrite: bool = False,
        extra_manifest: dict | None = None,
        identity: dict | None = None,
        sources: Iterable[str | Path] = (),
    ):
        self.config = config
        self.identity = inputs_identity(config) if identity is None else identity
        with parallel.main_first():  # data parallel: the main process creates, locks and writes; the others read
            if parallel.is_main():
                self._open(path, overwrite, sources, extra_manifest)
            else:
                self.path, self.lock, self.resumed = Path(path), None, True
                if not (self.path / MANIFEST).is_file():
                    raise RunDirError(f"{self.path}: the main process did not open the run folder (see its error)")
                self.manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        self.records = UnitLog(self.path / RECORDS)

    def _open(self, path: str | Path, overwrite: bool, sources: Iterable[str | Path], extra: dict | None) -> None:
        self.path = outdir.check(path, "run", resume=True, overwrite=overwrite, sources=sources)
        self.lock = outdir.FolderLock(self.path)
        if overwrite and outdir.marker_kind(self.path) == "run":
            outdir.clear(self.path)
        where = {k: v for k, v in self.config.items() if k != "out"}  # a moved run folder still resumes
        h = config_hash({"config": where, "identity": self.identity})
        manifest_path = self.path / MANIFEST
        if manifest_path.exists():
            self.manifest = self._resume(manifest_path, h)
            self.resumed = True
        else:
            outdir.write_marker(self.path, "run")
            self.manifest = {
                "config": self.config,
                "identity": self.identity,
                "config_hash": h,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "versions": package_versions(),
                "git_sha": _git_sha(),
                "platform": platform.platform(),
                "processes": parallel.world(),  # data-parallel processes of the run that created the folder
                **(extra or {}),
            }
            atomic_write_json(manifest_path, self.manifest)
            self.resumed = False

    def _resume(self, manifest_path: Path, h: str) -> dict:
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunDirError(f"{manifest_path} is not valid JSON; pass --overwrite or pick another --out") from e
        if old.get("config_hash") != h:
            what = _differences(old.get("config", {}), self.config, old.get("identity", {}), self.identity)
            raise RunDirError(f"{self.path} holds results for other inputs ({what}); use a new --out or --overwrite")
        return old

    def update_manifest(self, **fields: object) -> None:
        self.manifest.update(fields)
        atomic_write_json(self.path / MANIFEST, self.manifest)  # the main process only (atomic_write_json)

    def samples(self, name: str) -> UnitLog:
        return UnitLog(self.path / "samples" / f"{name}.jsonl")

    def done(self, unit: str) -> bool:
        return self.records.has(unit)

    def write(self, unit: str, records: list[Record]) -> None:
        self.records.append(unit, [asdict(r) for r in records])

    def all_records(self) -> list[dict]:
        return [r for r in self.records.rows() if not r.get("_empty")]

    def close(self) -> None:
        """Release the folder's lock (also released when this object is collected or the process exits)."""
        if self.lock is not None:
            self.lock.release()


def _differences(old_cfg: dict, new_cfg: dict, old_id: dict, new_id: dict, most: int = 3) -> str:
    """A short account of what differs between a run folder's identity and the one asked for."""
    flat_old, flat_new = _flatten(old_cfg), _flatten(json.loads(json.dumps(new_cfg, default=str)))
    changed = [f"{k} was {flat_old.get(k)!r}, now {flat_new.get(k)!r}" for k in sorted(set(flat_old) | set(flat_new))
               if flat_old.get(k) != flat_new.get(k)]  # fmt: skip
    changed += [f"{k}: {'content changed' if k in old_id and k in new_id else 'new input' if k in new_id else 'gone'}"
                for k in sorted(set(old_id) | set(new_id)) if old_id.get(k) != new_id.get(k)]  # fmt: skip
    if not changed:
        return "written by an older memaudit"
    return "; ".join(changed[:most]) + (f"; {len(changed) - most} more" if len(changed) > most else "")


def _flatten(obj: object, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}
