"""Unit logs: append-only JSONL files written in whole units, so a kill loses at most the unit in flight.

A unit's lines are appended with one ``write`` and ``fsync``'d; each line carries the unit's key and size.
On reopening, a unit whose lines are not all present (a kill mid-write) is dropped, as is a truncated last
line, so a resumed run never duplicates a row. Run directories (:mod:`auditor.store.runs`) keep their
records in one, and the per-example samples in others.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Protocol

import auditor.store.parallel as parallel
from auditor.errors import RunDirError


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
