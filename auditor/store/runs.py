"""Run directories: a manifest, append-only records written as results come, and resume.

Layout of a run directory::

    manifest.json     resolved config, versions, git sha, device, seeds, checkpoint fingerprint
    records.jsonl     one line per (checkpoint, method, sparsity, family, task, metric)
    samples/*.jsonl   per-example outputs

Crash safety. Results are written in *units* (e.g. "every MIA metric at sparsity 0.3") to unit logs
(:mod:`auditor.store.units`): a kill at any moment loses at most the unit in flight and a resumed run
never duplicates a record. JSON files (manifest, reports' data) are written atomically via a temporary
file and ``os.replace``. A folder's identity binds only once it holds a measurement: a run that fails
before its first record (the model does not load) leaves nothing that refuses the corrected command.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import auditor.store.outdir as outdir
import auditor.store.parallel as parallel
from auditor.errors import RunDirError
from auditor.store.atomic import atomic_write_json, atomic_write_text  # noqa: F401 (re-exported)
from auditor.store.identity import inputs_identity
from auditor.store.units import SampleLog, UnitLog, log_rows, parse_units  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

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
    # items left out of ``n`` and why: {"too short for prefix + suffix": 39}; n + sum(skipped) = items given
    skipped: dict[str, int] = field(default_factory=dict)

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


class RunDir:
    """A run directory. Reopening one written for the same config and inputs resumes it.

    ``identity``: what the results depend on beyond the config, by content (input file hashes,
    checkpoint fingerprint, dtype, device class); default: the hashes of every file the config names.
    A folder holding results for another config or other inputs is refused before anything is measured; one
    that holds no record or sample yet (its run stopped before measuring, e.g. the model did not load) binds
    nothing and is started afresh.
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
        self.created = False  # set by the main process when it makes the folder
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
        self.created = not Path(path).expanduser().exists()  # this run makes the folder: discard() may remove it
        self.path = outdir.check(path, "run", resume=True, overwrite=overwrite, sources=sources)
        self.lock = outdir.FolderLock(self.path)
        if overwrite and outdir.marker_kind(self.path) == "run":
            outdir.clear(self.path)
        where = {k: v for k, v in self.config.items() if k != "out"}  # a moved run folder still resumes
        h = config_hash({"config": where, "identity": self.identity})
        manifest_path = self.path / MANIFEST
        old = self._resume(manifest_path, h) if manifest_path.exists() else None
        if old is not None:
            self.manifest, self.resumed = old, True
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

    def _resume(self, manifest_path: Path, h: str) -> dict | None:
        """The folder's manifest when it is for this config and these inputs; None (start afresh) when it is for
        others but nothing was measured there (a run that stopped before its first record binds nothing)."""
        measured = holds_measurements(self.path)
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if not measured:
                return None
            raise RunDirError(f"{manifest_path} is not valid JSON; pass --overwrite or pick another --out") from e
        if old.get("config_hash") == h:
            return old
        if not measured:
            log.info("%s holds no measurement of its earlier inputs; starting it afresh", self.path)
            return None
        what = _differences(old.get("config", {}), self.config, old.get("identity", {}), self.identity)
        raise RunDirError(f"{self.path} holds results for other inputs ({what}); use a new --out or --overwrite")

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

    def discard(self) -> bool:
        """Remove the folder if this run created it and nothing was measured in it; returns whether it did.
        For a run that fails before its first record (the model does not load): the command, corrected,
        starts from nothing. A folder that holds a measurement is kept, to resume."""
        if not (parallel.is_main() and self.created) or holds_measurements(self.path):
            return False
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        return True


@contextmanager
def discard_on_error(run: RunDir) -> Iterator[RunDir]:
    """``run``; an error inside removes its folder when the run created it and measured nothing (:meth:`discard`)."""
    try:
        yield run
    except BaseException:
        run.discard()
        raise


def holds_measurements(folder: Path) -> bool:
    """Whether a run folder (or a run nested in it, like an audit's checkpoints) holds a record or a sample."""
    logs = [*folder.rglob(RECORDS), *folder.rglob("samples/*.jsonl")]
    return any(p.is_file() and p.stat().st_size > 0 for p in logs)


def _differences(old_cfg: dict, new_cfg: dict, old_id: dict, new_id: dict, most: int = 3) -> str:
    """A short account of what differs between a run folder's identity and the one asked for."""
    flat_old, flat_new = _flatten(old_cfg), _flatten(json.loads(json.dumps(new_cfg, default=str)))
    changed = [
        f"{k} was {flat_old.get(k)!r}, now {flat_new.get(k)!r}"
        for k in sorted(set(flat_old) | set(flat_new))
        if flat_old.get(k) != flat_new.get(k)
    ]
    for k in sorted(set(old_id) | set(new_id)):
        if old_id.get(k) != new_id.get(k):
            how = "content changed" if k in old_id and k in new_id else "new input" if k in new_id else "gone"
            changed.append(f"{k}: {how}")
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
