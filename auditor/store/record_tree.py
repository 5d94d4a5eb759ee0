"""Helpers every family uses to build its part of a point's figures tree from its records.

A family's :meth:`~auditor.family.Family.tree` turns its records into a nested mapping (see
:mod:`auditor.report.figures` for the paths). :func:`put` places one record's figure together with its
evidence, so that every figure of every family carries the same siblings: ``<key>_ci`` (the 95% interval),
``<key>_n`` (the items it was measured on) and ``<key>_skipped`` (``{reason: count}`` of the items left out).
"""

from __future__ import annotations

from typing import Any

# sibling suffixes that qualify a figure, never figures themselves
EVIDENCE = ("_ci", "_n", "_skipped", "_low_n", "_ci_note")


def split_task(task: str) -> tuple[str, str | None, str | None]:
    """``extraction@prefix_len=16`` -> ``("extraction", "prefix_len", "16")``; ``exposure@max`` -> (.., "max", None)."""
    base, _, qual = task.partition("@")
    if not qual:
        return base, None, None
    key, eq, val = qual.partition("=")
    return base, key, (val if eq else None)


def put(entry: dict, key: str, row: dict, value: Any = None) -> None:
    """``entry[key]`` = the record's value (or ``value``), with its evidence beside it: ``key_ci``, ``key_n``
    and ``key_skipped`` where the record holds them."""
    entry[key] = row["value"] if value is None else value
    if row.get("ci"):
        entry[f"{key}_ci"] = list(row["ci"])
    if row.get("n") is not None:
        entry[f"{key}_n"] = row["n"]
    if row.get("skipped"):
        entry[f"{key}_skipped"] = {str(k): int(v) for k, v in row["skipped"].items()}


def is_evidence(key: str) -> bool:
    """Whether a tree key is a figure's sibling (interval, n, skipped, low-n flag) rather than a figure."""
    return str(key).endswith(EVIDENCE)


def merge(into: dict, sub: dict) -> dict:
    """Deep-merge ``sub`` into ``into`` (families may share a top-level key, as capability families do)."""
    for k, v in sub.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v
    return into
