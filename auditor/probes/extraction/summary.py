"""Discoverable extraction's aggregates (``extraction.json``) and records, from the per-text sample rows.

The aggregate is a pure function of the scored rows and of what the probe was given (:class:`Given`: how many
texts, how many per duplication count), so the family (for its records) and ``auditor extract``'s summaries
step (for ``extraction.json``) compute it the same way. Every text given is either scored (``n``) or too short
for prefix + suffix (``skipped_short``), per prefix length and per duplication count; records carry the same
count as ``skipped`` (``{"too short for prefix + suffix": 39}``), so ``n + sum(skipped)`` is the texts given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.discoverable import aggregate, by_repeats
from auditor.probes.extraction.items import row_repeats
from auditor.store.runs import Record

METRICS = ("exact_extraction_rate", "token_match", "approx_extraction_rate")
SHORT = "too short for prefix + suffix"  # the reason a text is left out of n


@dataclass(frozen=True)
class Given:
    """What the probe was given: how many texts (rows), and how many of them per duplication count."""

    texts: int
    repeats: dict[int, int]


def given_of(rows: list[dict], config: ExtractionConfig) -> Given:
    """The :class:`Given` of the data rows (``repeats`` counted where every row carries the column)."""
    reps = row_repeats(rows, config.repeats_column)
    return Given(len(rows), dict(Counter(r for r in reps if r is not None)))


def _rows_at(rows: list[dict], config: ExtractionConfig) -> dict[int | str, list[dict]]:
    """The scored rows per sweep key: each prefix length, or ``"columns"`` (every row) in column mode."""
    if config.column_mode:
        return {"columns": list(rows)}
    return {k: [r for r in rows if r["prefix_len"] == k] for k in config.sweep()}


def summarize(rows: list[dict], config: ExtractionConfig, given: Given) -> dict:
    """The ``extraction.json`` aggregate: headline figures at the headline prefix length (with ``n``,
    ``skipped_short``, ``n_texts``), ``by_prefix_len`` and ``<metric>@K`` per swept length, and ``by_repeats``."""
    thr, metric = config.approx_threshold, config.approx_metric
    per_key = _rows_at(rows, config)
    head_key = "columns" if config.column_mode else config.headline()
    head = per_key[head_key]
    result: dict = {
        "mode": "columns" if config.column_mode else "tokens",
        "prefix_len": None if config.column_mode else head_key,
        "suffix_len": None if config.column_mode else config.suffix_len,
        "approx_metric": metric,
        "approx_threshold": thr,
        **aggregate(head, thr, metric),
        "skipped_short": given.texts - len(head),
        "n_texts": given.texts,
    }
    if not config.column_mode:
        result["by_prefix_len"] = {}
        for k in config.sweep():
            agg = {**aggregate(per_key[k], thr, metric), "skipped_short": given.texts - len(per_key[k])}
            result["by_prefix_len"][str(k)] = agg
            for m in ("exact_extraction_rate", "approx_extraction_rate", "token_match"):
                result[f"{m}@{k}"] = agg[m]
    reps = by_repeats(head, thr, metric)
    for count, agg in reps.items():
        agg["skipped_short"] = given.repeats.get(int(count), agg["n"]) - agg["n"]
    if reps:
        result["by_repeats"] = reps
    return result


def _records(agg: dict, task: str, tags: dict, extra: dict) -> list[Record]:
    """The three headline metrics of one aggregate, with ``n`` and the too-short texts as ``skipped``."""
    if not agg.get("n"):
        return []
    skipped = {SHORT: agg["skipped_short"]} if agg.get("skipped_short") else {}
    return [
        Record(
            "extraction",
            task,
            m,
            agg[m],
            n=agg["n"],
            ci=tuple(agg[f"{m}_ci"]),
            extra=dict(extra),
            skipped=dict(skipped),
            **tags,
        )
        for m in METRICS
    ]


def records_for(result: dict, config: ExtractionConfig, name: str, tags: dict) -> list[Record]:
    """Headline records (task NAME), per swept prefix length (NAME@prefix_len=K) and per repeats (NAME@repeats=R)."""
    base = {"suffix_len": result["suffix_len"], "approx_threshold": config.approx_threshold}
    out = _records(result, name, tags, {**base, "prefix_len": result["prefix_len"]})
    if len(result.get("by_prefix_len", {})) > 1:
        for k, agg in result["by_prefix_len"].items():
            out += _records(agg, f"{name}@prefix_len={k}", tags, {**base, "prefix_len": int(k)})
    for r, agg in result.get("by_repeats", {}).items():
        extra = {**base, "prefix_len": result["prefix_len"], "repeats": int(r)}
        out += _records(agg, f"{name}@repeats={r}", tags, extra)
    return out
