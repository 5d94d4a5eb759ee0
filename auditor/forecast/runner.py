"""Run a forecast into a run directory: score each model in turn, then compare each early model with the final.

For each distinct model (the early ones in the order given, then the final one): load it, score every
example (:mod:`auditor.forecast.scoring`), append its rows to ``examples.jsonl`` as ONE unit (see
:class:`auditor.store.runs.UnitLog`: a kill mid-write leaves no partial unit), free it. A rerun of the same
command skips every model whose unit is complete, so a crash costs at most the model in flight and no row
is ever written twice. Then ``forecast.json``, ``forecast.md`` and ``forecast.png`` are written from
``examples.jsonl`` alone (:mod:`auditor.forecast.table`).
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from auditor.forecast.config import ForecastConfig
from auditor.forecast.entries import ModelEntry
from auditor.forecast.kinds import Tokenized
from auditor.forecast.plot import plot_forecast
from auditor.forecast.render import markdown
from auditor.forecast.scoring import score_model
from auditor.forecast.table import forecast_result
from auditor.models.load import ModelSpec, load_model
from auditor.store.atomic import atomic_write_json, atomic_write_text
from auditor.store.runs import RunDir, UnitLog

log = logging.getLogger(__name__)

EXAMPLES = "examples.jsonl"
OUTPUTS = ("forecast.json", "forecast.md", "forecast.png")


def unit_key(entry: ModelEntry) -> str:
    """The unit of a model's rows: one per distinct source (a model given twice is scored once)."""
    return "model-" + hashlib.sha256(entry.source.encode()).hexdigest()[:16]


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def score_entry(
    entry: ModelEntry, spec: ModelSpec, tokenized: Mapping[str, Tokenized], cfg: ForecastConfig, examples: UnitLog
) -> dict:
    """Load one model, append its rows to ``examples`` as one unit, free it; returns its description."""
    lm = load_model(spec)
    try:
        described = lm.describe()
        rows = score_model(lm.model, lm.tokenizer, tokenized, cfg)
    finally:
        del lm
        _free()
    examples.append(unit_key(entry), [{"model": entry.label, "source": entry.source, **r} for r in rows])
    return described


def score_all(
    run: RunDir,
    entries: Sequence[ModelEntry],
    spec_of: Callable[[str], ModelSpec],
    tokenized: Mapping[str, Tokenized],
    cfg: ForecastConfig,
) -> UnitLog:
    """Every distinct model scored into ``RUN/examples.jsonl``, skipping those a previous run finished."""
    examples = UnitLog(Path(run.path) / EXAMPLES)
    seen: set[str] = set()
    todo = [e for e in entries if not (e.source in seen or seen.add(e.source))]  # a model given twice: once
    for n, entry in enumerate(todo, 1):
        if examples.has(unit_key(entry)):
            log.info("%s: scores found in %s; not scored again", entry.label, EXAMPLES)
            continue
        log.info("scoring %s (%d of %d models)", entry.label, n, len(todo))
        described = score_entry(entry, spec_of(entry.source), tokenized, cfg, examples)
        run.update_manifest(checkpoints={**run.manifest.get("checkpoints", {}), entry.label: described})
    return examples


def write_outputs(folder: str | Path, result: dict) -> list[Path]:
    """``forecast.json``, ``forecast.md`` and ``forecast.png`` (each written whole, atomically or at once)."""
    folder = Path(folder)
    atomic_write_json(folder / OUTPUTS[0], result)
    atomic_write_text(folder / OUTPUTS[1], markdown(result))
    plot_forecast(result, folder / OUTPUTS[2])
    return [folder / name for name in OUTPUTS]


def run_forecast(
    run: RunDir,
    entries: Sequence[ModelEntry],
    spec_of: Callable[[str], ModelSpec],
    tokenized: Mapping[str, Tokenized],
    cfg: ForecastConfig,
) -> dict:
    """Score (or resume), then the forecast of each early model against the final one; returns forecast.json."""
    examples = score_all(run, entries, spec_of, tokenized, cfg)
    skipped = sum(t.skipped for t in tokenized.values())
    result = forecast_result(entries, examples.rows(), cfg, skipped)
    write_outputs(run.path, result)
    return result
