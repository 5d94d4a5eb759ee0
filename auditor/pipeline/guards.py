"""Checks that span a family's prepared sets, applied once to its data before anything is scored, and the texts
they left out, reported in every record's ``skipped``.

``GUARDS`` maps a family to a function of its prepared data (``mia``: members and non-members from the same file
are refused; texts in both are dropped from both, as neither label fits them). :func:`guarded` runs the family's
guard; :func:`with_dropped` adds the counts of the texts the data's sets dropped (``TextSet.dropped``) to the
``skipped`` of each record measured on ``n`` items, so ``n + sum(skipped)`` stays the number of texts given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from auditor.inputs.data import TextSet
from auditor.inputs.overlap import drop_shared
from auditor.store.runs import Record


def disjoint_mia(data: Any) -> Any:
    """``mia``'s data with the texts in both members and non-members dropped from both (one warning); the blind
    baseline, when on, scored again on what is left. The same file for both sets is an InputError."""
    members, nonmembers = drop_shared(data.members, data.nonmembers)
    if members is data.members and nonmembers is data.nonmembers:
        return data
    blind = data.blind
    if blind is not None:
        from auditor.probes.mia.blind import blind_scores  # scikit-learn: only when the blind baseline is on

        blind = blind_scores(members.texts, nonmembers.texts, seed=data.config.seed)
    return dataclasses.replace(data, members=members, nonmembers=nonmembers, blind=blind)


GUARDS: dict[str, Callable[[Any], Any]] = {"mia": disjoint_mia}


def guarded(family: str, data: Any) -> Any:
    """``data`` after ``family``'s guard (unchanged for a family with none)."""
    guard = GUARDS.get(family)
    return guard(data) if guard is not None else data


def dropped_counts(data: Any) -> dict[str, int]:
    """The texts dropped after loading from every :class:`TextSet` the (dataclass) ``data`` holds, by reason."""
    out: dict[str, int] = {}
    if not dataclasses.is_dataclass(data):
        return out
    for f in dataclasses.fields(data):
        value = getattr(data, f.name)
        if isinstance(value, TextSet):
            for reason, count in value.dropped.items():
                out[reason] = out.get(reason, 0) + count
    return out


def with_dropped(records: list[Record], data: Any) -> list[Record]:
    """``records`` with the data's dropped texts added to the ``skipped`` of each record that has an ``n``."""
    gone = dropped_counts(data)
    if not gone:
        return records
    out = []
    for r in records:
        if r.n is not None:
            skipped = dict(r.skipped)
            for reason, count in gone.items():
                skipped[reason] = skipped.get(reason, 0) + count
            r = dataclasses.replace(r, skipped=skipped)
        out.append(r)
    return out
