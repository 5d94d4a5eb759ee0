"""Discoverable extraction at one point: samples in resumable units, then aggregates and records.

For each prefix length of the sweep, texts are processed in units of ``unit_size``; each unit's per-text lines
(``id, prefix_len, suffix_len, exact, token_match, similarity, bleu, longest_run, matched_prefix, [repeats],
[generated, target]``) are appended to the samples log as it completes (:func:`auditor.probes.units.run_units`),
so a killed run resumes at the first missing unit without duplicating lines. Aggregates and records (family
``extraction``; ``exact_extraction_rate`` with a Wilson CI, ``token_match``, ``approx_extraction_rate``, each with
``n`` and the too-short texts as ``skipped``) come from the saved lines (:mod:`auditor.probes.extraction.summary`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.inputs.data import TextSet
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.discoverable import raise_all_short, score_items, split_lead
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
from auditor.probes.extraction.summary import given_of, records_for, summarize
from auditor.probes.units import Unit, run_units
from auditor.store.runs import Record, SampleLog

log = logging.getLogger(__name__)

SCOPE_KEYS = ("suffix_len", "unit_size", "text_column", "prefix_column", "suffix_column", "repeats_column", "keep_text")


def digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_items(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict], config: ExtractionConfig, source: str
) -> dict[int | str, list[Item]]:
    """Items per sweep key (each prefix length, or ``"columns"``); every text too short is an InputError."""
    ids = row_ids(rows, config.id_column)
    reps = row_repeats(rows, config.repeats_column)
    if config.column_mode:
        cols = (config.prefix_column, config.suffix_column)
        require_columns(rows, cols, source, "name the prefix and suffix columns (--prefix-column/--suffix-column)")
        prefixes, suffixes = [r[cols[0]] for r in rows], [r[cols[1]] for r in rows]
        items = column_items(tokenizer, ids, prefixes, suffixes, reps)
        longest = max(items, key=lambda it: len(it.prefix) + len(it.target))
        check_context(model, len(longest.prefix) + len(longest.target), f"row {longest.id!r}: prefix plus suffix")
        return {"columns": items}
    require_columns(rows, (config.text_column,), source, "name the text column (--text-column)")
    lead = len(split_lead(tokenizer))
    suffix_len = config.resolved().suffix_len or 0
    check_context(model, lead + max(config.sweep()) + suffix_len, "prefix plus suffix")
    texts = [r[config.text_column] for r in rows]
    out, short = {}, {}
    for k in config.sweep():
        out[k], short[k] = token_items(tokenizer, ids, texts, k, suffix_len, reps)
    if not any(out.values()):
        raise_all_short(len(rows), short[min(short)], min(config.sweep()), suffix_len, tokenizer, texts)
    return out


def _units(items: dict[int | str, list[Item]], size: int, name: str, scope: str) -> list[Unit]:
    """Units of ``size`` items per sweep key ``k``, keyed ``NAME-k-SCOPE-`` + the digest of their ids."""
    return [
        Unit(f"{name}-{k}-{scope}-" + digest([it.id for it in its[i : i + size]]), its[i : i + size], {"prefix_len": k})
        for k, its in items.items()
        for i in range(0, len(its), size)
    ]


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

    Returns the aggregate dict (:func:`~auditor.probes.extraction.summary.summarize`: the headline figures at the
    headline prefix length with ``n``, ``skipped_short`` and ``n_texts``, ``exact_extraction_rate@K`` per swept K,
    ``by_prefix_len`` and, where the rows carry duplication counts, ``by_repeats``) and its records.
    """
    config = (config or ExtractionConfig()).resolved()  # lengths left unset: the user defaults (32 / 32)
    source = texts.source if isinstance(texts, TextSet) else "data"
    rows = as_rows(texts, source)
    items = build_items(model, tokenizer, rows, config, source)
    tags = dict(record_tags or {})
    # Lines from another call on the same samples file (other tags, lengths, columns) are kept apart.
    scope = digest({"tags": tags, **{k: getattr(config, k) for k in SCOPE_KEYS}})

    def score(part: list[Item]) -> list[dict]:
        return score_items(model, tokenizer, part, config.batch_size, config.keep_text)

    run_units(
        samples,
        _units(items, config.unit_size, name, scope),
        score,
        desc=f"extraction ({name})",
        unit="text",
        extra={"scope": scope},
        logger=log,
    )
    wanted = set(row_ids(rows, config.id_column))
    mine = [r for r in samples.rows() if r.get("scope") == scope and r["id"] in wanted]
    result = summarize(mine, config, given_of(rows, config))
    return result, records_for(result, config, name, tags)
