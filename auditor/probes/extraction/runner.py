"""Run discoverable extraction into a run directory: samples in resumable units, then aggregates and records.

For each prefix length of the sweep, texts are processed in units of ``unit_size``; each unit's
per-text lines (``id, prefix_len, suffix_len, exact, token_match, similarity, bleu, longest_run,
matched_prefix, [repeats], [generated, target]``) are appended to ``samples/NAME.jsonl`` as it
completes, so a killed run resumes at the first missing unit without duplicating lines. Aggregates
(``NAME.json``) and records (family ``extraction``; metrics ``exact_extraction_rate`` with a Wilson CI,
``token_match``, ``approx_extraction_rate``) are computed from the saved lines at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict

from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.progress as progress
from auditor.inputs.data import TextSet
from auditor.models.parallel import shard_map
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.discoverable import aggregate, by_repeats, raise_all_short, score_items, split_lead
from auditor.probes.extraction.items import (
    Item,
    as_rows,
    check_context,
    column_items,
    require_columns,
    row_ids,
    row_repeats,
    token_items,
)
from auditor.store.runs import Record, RunDir, SampleLog, atomic_write_json

log = logging.getLogger(__name__)

METRICS = ("exact_extraction_rate", "token_match", "approx_extraction_rate")


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_items(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict], config: ExtractionConfig, source: str
) -> tuple[dict[int | str, list[Item]], dict[int | str, int]]:
    """Items per sweep key (each prefix length, or ``"columns"``) and too-short counts per key."""
    ids = row_ids(rows, config.id_column)
    reps = row_repeats(rows, config.repeats_column)
    if config.column_mode:
        cols = (config.prefix_column, config.suffix_column)
        require_columns(rows, cols, source, "name the prefix and suffix columns (--prefix-column/--suffix-column)")
        items = column_items(
            tokenizer,
            ids,
            [r[cols[0]] for r in rows],
            [r[cols[1]] for r in rows],
            reps,  # type: ignore[index]
        )
        longest = max(items, key=lambda it: len(it.prefix) + len(it.target))
        check_context(model, len(longest.prefix) + len(longest.target), f"row {longest.id!r}: prefix plus suffix")
        return {"columns": items}, {"columns": 0}
    require_columns(rows, (config.text_column,), source, "name the text column (--text-column)")
    lead = len(split_lead(tokenizer))
    check_context(model, lead + max(config.sweep()) + config.suffix_len, "prefix plus suffix")
    texts = [r[config.text_column] for r in rows]
    out, short = {}, {}
    for k in config.sweep():
        out[k], short[k] = token_items(tokenizer, ids, texts, k, config.suffix_len, reps)
    if not any(out.values()):
        raise_all_short(len(rows), short[min(short)], min(config.sweep()), config.suffix_len, tokenizer, texts)
    return out, short


def extraction_result(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: TextSet | Sequence[dict] | Sequence[str],
    samples: SampleLog,
    config: ExtractionConfig | None = None,
    record_tags: dict | None = None,
    name: str = "extraction",
) -> tuple[dict, list[Record]]:
    """Discoverable extraction of ``texts`` with per-text rows in resumable units of ``samples``.

    Returns the aggregate dict: the headline figures (``exact_extraction_rate``, ``token_match``,
    ``approx_extraction_rate``, ``similarity``, ``bleu``, ``longest_run``, ``n``, ``skipped_short``, CIs) at
    the headline prefix length, ``exact_extraction_rate@K`` per swept K, ``by_prefix_len`` and, where the
    rows carry duplication counts, ``by_repeats``; and its records (family ``extraction``).
    """
    config = config or ExtractionConfig()
    config.validate()
    source = texts.source if isinstance(texts, TextSet) else "data"
    rows = as_rows(texts, source)
    items, short = build_items(model, tokenizer, rows, config, source)
    tags = dict(record_tags or {})
    # Lines from another call on the same samples file (other tags, lengths, columns) are kept apart.
    keys = ("suffix_len", "unit_size", "text_column", "prefix_column", "suffix_column", "repeats_column", "keep_text")
    scope = digest({"tags": tags, **{k: getattr(config, k) for k in keys}})
    total = sum(len(its) for its in items.values())
    with progress.bar(total, f"extraction ({name})", unit="text", logger=log) as p:
        for key, its in items.items():
            for start in range(0, len(its), config.unit_size):
                unit = its[start : start + config.unit_size]
                ukey = f"{name}-{key}-{scope}-" + digest([it.id for it in unit])
                if samples.has(ukey):
                    p.skip(len(unit))
                    continue
                scored = shard_map(unit, lambda part: score_items(model, tokenizer, part, config.batch_size,
                                                                  config.keep_text))  # fmt: skip
                samples.append(ukey, [{**r, "scope": scope} for r in scored])
                p.update(len(unit), prefix_len=key)
    mine = [r for r in samples.rows() if r.get("scope") == scope]
    result = summarize(mine, items, short, config, len(rows))
    return result, records_for(result, config, name, tags)


def run_extraction(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: TextSet | Sequence[dict] | Sequence[str],
    run: RunDir,
    config: ExtractionConfig | None = None,
    record_tags: dict | None = None,
    name: str = "extraction",
) -> dict:
    """:func:`extraction_result` into a run directory: ``NAME.json``, ``samples/NAME.jsonl`` and records."""
    config = config or ExtractionConfig()
    tags = dict(record_tags or {})
    result, records = extraction_result(model, tokenizer, texts, run.samples(name), config, tags, name)
    runit = f"{name}-records-{digest({'config': asdict(config), 'tags': tags})}"
    if not run.done(runit):
        run.write(runit, records)
    atomic_write_json(run.path / f"{name}.json", result)
    return result


def summarize(rows: list[dict], items: dict, short: dict, config: ExtractionConfig, n_texts: int) -> dict:
    """The ``NAME.json`` aggregate from the saved sample lines."""
    thr, metric = config.approx_threshold, config.approx_metric
    wanted = {key: {it.id for it in its} for key, its in items.items()}
    per_key: dict = {}
    for key in items:
        sel = [r for r in rows if r["id"] in wanted[key] and (key == "columns" or r["prefix_len"] == key)]
        per_key[key] = sel
    head_key = "columns" if config.column_mode else config.headline()
    head = per_key[head_key]
    result: dict = {
        "mode": "columns" if config.column_mode else "tokens",
        "prefix_len": None if config.column_mode else head_key,
        "suffix_len": None if config.column_mode else config.suffix_len,
        "approx_metric": metric,
        "approx_threshold": thr,
        **aggregate(head, thr, metric),
        "skipped_short": short[head_key],
        "n_texts": n_texts,
    }
    if not config.column_mode:
        result["by_prefix_len"] = {}
        for k in config.sweep():
            agg = {**aggregate(per_key[k], thr, metric), "skipped_short": short[k]}
            result["by_prefix_len"][str(k)] = agg
            result[f"exact_extraction_rate@{k}"] = agg["exact_extraction_rate"]
            result[f"approx_extraction_rate@{k}"] = agg["approx_extraction_rate"]
            result[f"token_match@{k}"] = agg["token_match"]
    reps = by_repeats(head, thr, metric)
    if reps:
        result["by_repeats"] = reps
    return result


def _records(agg: dict, task: str, tags: dict, extra: dict) -> list[Record]:
    if not agg.get("n"):
        return []
    n = agg["n"]
    return [
        Record("extraction", task, m, agg[m], n=n, ci=tuple(agg[f"{m}_ci"]), extra=dict(extra), **tags) for m in METRICS
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
