"""The one resumable unit loop of the probes: each unit of items not yet in a samples log is scored and appended.

A probe cuts its items (texts, canaries, generation indices) into units with stable keys; :func:`run_units` scores
every unit the log does not hold yet (data parallel: each process scores a share, :func:`shard_map`) and appends
its rows in one write, so a killed run resumes at the first missing unit without duplicating a row. The log is a
samples file of the run directory, or a point's view of one (``FamilyContext.samples``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import auditor.store.progress as progress
from auditor.store.parallel import shard_map
from auditor.store.runs import SampleLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One resumable unit: its key in the samples log, its items, and what the progress line shows beside it."""

    key: str
    items: list[Any]
    note: dict[str, Any] = field(default_factory=dict)


def run_units(
    samples: SampleLog,
    units: Sequence[Unit],
    score: Callable[[list[Any]], list[dict]],
    *,
    desc: str,
    unit: str = "item",
    extra: dict | None = None,
    logger: logging.Logger | None = None,
) -> None:
    """Score every unit ``samples`` does not hold yet with ``score(items) -> rows`` and append its rows (each
    with ``extra`` added); units written earlier count in the progress line but are not recomputed."""
    total = sum(len(u.items) for u in units)
    with progress.bar(total, desc, unit=unit, logger=logger or log) as p:
        for u in units:
            if samples.has(u.key):
                p.skip(len(u.items))
                continue
            rows = shard_map(u.items, score)  # data parallel: each process scores a share of the unit
            samples.append(u.key, [{**r, **(extra or {})} for r in rows])
            p.update(len(u.items), **u.note)
