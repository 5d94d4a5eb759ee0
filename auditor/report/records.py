"""Reading a run directory for the report: its records, its samples and the checkpoints they describe.

Records and samples follow ``docs/records.md``. A *view* is one checkpoint's share of a run directory:
an audit has one view per ``checkpoints/<label>`` folder; a plain run has one view (``run``) or, when
its records carry several checkpoint labels (an unlearning comparison), one view per label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.store.runs import RECORDS, log_rows

AUDIT_INDEX = "audit.json"
DENSE = "dense"


@dataclass(frozen=True)
class View:
    """One checkpoint of a run directory: its records (``rows``) and every record of the directory."""

    label: str
    path: Path  # the run directory holding records.jsonl and samples/
    checkpoint: str | None  # the records' checkpoint label (None: the directory has no records)
    rows: list[dict]
    all_rows: list[dict]
    name: str | None = None  # the name to show for the checkpoint (a shareable report's, for a path label)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON ({e}); rerun the command that writes it") from e


def load_rows(path: Path, name: str = RECORDS) -> list[dict]:
    """Every complete row of a unit log (records.jsonl or samples/<name>.jsonl), empty units dropped."""
    f = path / name
    if not f.exists():
        return []
    return log_rows(f)


def is_dense(row: dict) -> bool:
    return row.get("method", DENSE) in (None, DENSE)


def requested(row: dict) -> float:
    """The requested sparsity of a record (samples carry it as ``sparsity``)."""
    if is_dense(row):
        return 0.0
    s = row.get("requested_sparsity")
    return float(s if s is not None else row.get("sparsity") or 0.0)


def sparsity_key(s: float) -> str:
    """The name of a point's sparsity in the figures tree: ``0.5``, ``0.25``."""
    return f"{s:g}"


def points(rows: list[dict]) -> dict[str, dict[float, list[dict]]]:
    """``{method: {requested sparsity: records}}`` of the pruned points, in sweep order."""
    out: dict[str, dict[float, list[dict]]] = {}
    for r in rows:
        if not is_dense(r):
            out.setdefault(r["method"], {}).setdefault(requested(r), []).append(r)
    return {m: dict(sorted(p.items())) for m, p in out.items()}


def _labels(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(str(r.get("checkpoint", "model")) for r in rows))


def _view(label: str, path: Path, prefer: str | None = None) -> View:
    rows = load_rows(path)
    labels = _labels(rows)
    ck = prefer if prefer in labels else (labels[0] if labels else None)
    own = [r for r in rows if str(r.get("checkpoint", "model")) == ck]
    return View(label, path, ck, own, rows)


def is_audit(path: str | Path) -> bool:
    return (Path(path) / AUDIT_INDEX).exists()


def views(path: str | Path) -> tuple[list[View], str, str | None]:
    """``(views, primary label, baseline label or None)`` of an audit or a plain run directory."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"run directory not found: {path}")
    if is_audit(path):
        index = read_json(path / AUDIT_INDEX)
        out = [_view(label, path / sub, label) for label, sub in index["checkpoints"].items()]
        return out, index["primary"], index.get("baseline")
    rows = load_rows(path)
    labels = _labels(rows)
    if len(labels) <= 1:
        return [_view("run", path)], "run", None
    out = [View(lb, path, lb, [r for r in rows if str(r.get("checkpoint", "model")) == lb], rows) for lb in labels]
    return out, labels[0], None


def samples(view: View, name: str, *, dense: bool = True) -> list[dict]:
    """Rows of ``samples/<name>.jsonl`` for the view's checkpoint (dense point only unless ``dense=False``)."""
    rows = load_rows(view.path / "samples", f"{name}.jsonl")
    labels = {r.get("checkpoint") for r in rows} - {None}
    if len(labels) > 1:
        rows = [r for r in rows if r.get("checkpoint") in (None, view.checkpoint)]
    return [r for r in rows if is_dense(r)] if dense else rows
