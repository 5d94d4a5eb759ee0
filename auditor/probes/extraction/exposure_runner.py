"""Canary exposure at one point: per-canary lines in resumable units, then aggregates and records.

Appends one samples line per canary (``id, repeats, exposure, rank, log_likelihood, space_size, method``) in
units (:func:`auditor.probes.units.run_units`); the aggregates (``mean, max, median, min, n, rank1_rate,
by_repeats`` with each count's ``mean``/``max``/``n``; ``exposure.json`` of ``auditor exposure``) and the records
(family ``exposure``, metric ``exposure``: task NAME = the mean, ``NAME@max`` = the max, ``NAME@repeats=R`` = the
mean per duplication count) come from those lines.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.inputs.data import TextSet
from auditor.probes.extraction.config import ExposureConfig
from auditor.probes.extraction.exposure import canary_exposure, digit_slots
from auditor.probes.extraction.items import as_rows, check_context, require_columns, row_ids, row_repeats
from auditor.probes.extraction.runner import digest
from auditor.probes.units import Unit, run_units
from auditor.stats.intervals import proportion_ci
from auditor.store.runs import Record, SampleLog

log = logging.getLogger(__name__)


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": int(a.size),
        "mean": float(a.mean()),
        "max": float(a.max()),
        "min": float(a.min()),
        "median": float(np.median(a)),
    }


def check_canaries(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict], config: ExposureConfig, source: str
) -> None:
    """Columns present, secrets fit the space, and prefix + secret fit the model's context."""
    hint = "each canary needs its prefix and its secret (name them with --prefix-column / --secret-column)"
    require_columns(rows, (config.prefix_column, config.secret_column), source, hint)
    if config.space == "digits":
        for r in rows:
            digit_slots(r[config.secret_column])
    worst = max(
        rows,
        key=lambda r: len(tokenizer(r[config.prefix_column] + r[config.secret_column])["input_ids"]),
    )
    n = len(tokenizer(worst[config.prefix_column])["input_ids"]) + len(
        tokenizer(worst[config.secret_column], add_special_tokens=False)["input_ids"]
    )
    check_context(model, n, "a canary's prefix plus secret")


def exposure_result(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    canaries: TextSet | Sequence[dict],
    samples: SampleLog,
    config: ExposureConfig | None = None,
    record_tags: dict | None = None,
    name: str = "exposure",
) -> tuple[dict, list[Record]]:
    """Exposure of every canary, per-canary rows in resumable units of ``samples``; aggregates and records."""
    config = config or ExposureConfig()
    config.validate()
    rows = as_rows(canaries, "canaries")
    check_canaries(model, tokenizer, rows, config, "canaries")
    ids = row_ids(rows, config.id_column)
    reps = row_repeats(rows, config.repeats_column)
    tags = dict(record_tags or {})
    scope = digest({"tags": tags, "config": asdict(config)})

    def rows_of(part: list[int]) -> list[dict]:
        out = []
        for i in part:
            r = rows[i]
            res = canary_exposure(model, tokenizer, r[config.prefix_column], r[config.secret_column], config, ids[i])
            out.append({"id": ids[i], **({"repeats": reps[i]} if reps[i] is not None else {}), **res})
        return out

    starts = range(0, len(rows), config.unit_size)
    units = [
        Unit(
            f"{name}-{scope}-" + digest(ids[s : s + config.unit_size]),
            list(range(s, min(s + config.unit_size, len(rows)))),
        )
        for s in starts
    ]
    run_units(samples, units, rows_of, desc=f"exposure ({name})", unit="canary", extra={"scope": scope}, logger=log)
    mine = [r for r in samples.rows() if r.get("scope") == scope]
    result = summarize_exposure(mine)
    return result, exposure_records(result, name, tags)


def exposure_records(result: dict, name: str, tags: dict) -> list[Record]:
    """Family ``exposure``: task NAME (mean; ``rank1_rate``, ``max_possible``), ``NAME@max``, ``NAME@repeats=R``."""
    n = result["n"]
    recs = [
        Record("exposure", name, "exposure", result["mean"], n=n, extra={"statistic": "mean"}, **tags),
        Record("exposure", f"{name}@max", "exposure", result["max"], n=n, extra={"statistic": "max"}, **tags),
        Record("exposure", name, "max_possible", result["max_possible"], n=n, **tags),
    ]
    if "rank1_rate" in result:
        ci = tuple(result["rank1_rate_ci"])
        recs.append(Record("exposure", name, "rank1_rate", result["rank1_rate"], n=result["n_ranked"], ci=ci, **tags))
    for rep, s in result.get("by_repeats", {}).items():
        extra = {"statistic": "mean", "repeats": int(rep), "max": s["max"]}
        recs.append(Record("exposure", f"{name}@repeats={rep}", "exposure", s["mean"], n=s["n"], extra=extra, **tags))
    return recs


def summarize_exposure(rows: list[dict]) -> dict:
    """Aggregates over per-canary lines: ``mean, max, median, min, n, rank1_rate, methods, by_repeats``."""
    exp = [r["exposure"] for r in rows]
    result: dict = {**_stats(exp), "methods": sorted({r["method"] for r in rows})}
    sizes = sorted({r["space_size"] for r in rows})
    result["space_size"] = sizes[0] if len(sizes) == 1 else sizes
    result["max_possible"] = float(np.log2(max(sizes)))
    ranked = [r for r in rows if "rank" in r]
    if ranked:
        first = sum(r["rank"] == 1 for r in ranked)
        result["rank1_rate"] = first / len(ranked)
        result["rank1_rate_ci"] = list(proportion_ci(first, len(ranked)))  # Wilson: never [0, 0] at small n
        result["n_ranked"] = len(ranked)
    groups: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("repeats") is not None:
            groups[int(r["repeats"])].append(r["exposure"])
    if groups:
        result["by_repeats"] = {str(k): _stats(groups[k]) for k in sorted(groups)}
    return result
