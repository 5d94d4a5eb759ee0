"""The forecast table from the rows of ``examples.jsonl``: each early model against the final one.

Predicted = the early model memorizes the example (``exact``: all suffix tokens reproduced, Biderman et al.
2023's k-extractable); true = the final model does. :mod:`auditor.forecast.stats` gives precision, recall,
counts and the AUC of every continuous predictor (:mod:`auditor.forecast.predictors`) against the final
labels. Everything here is recomputable from ``examples.jsonl`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.errors import InputError
from auditor.forecast.config import ForecastConfig
from auditor.forecast.entries import ModelEntry, in_order
from auditor.forecast.predictors import ordered
from auditor.forecast.stats import forecast_stats

DEFINITIONS = {
    "memorized": "greedy decoding after the prompt reproduces every suffix token (memorization score 1, "
    "k-extractable; Biderman et al. 2023)",
    "predicted": "the early model memorizes the example",
    "true": "the final model memorizes the example",
    "precision": "n_both / n_predicted; None when n_predicted = 0 (0/0); precision_ci: its Wilson score 95% CI",
    "recall": "n_both / n_true; None when n_true = 0 (0/0); recall_ci: its Wilson score 95% CI",
    "base_rate": "n_true / n: the precision expected of a forecast picking examples at random",
    "auc": "P(predictor of a memorized example > that of a non-memorized one) + P(tie)/2, with a 95% percentile "
    "bootstrap CI (None, with ci_note, when fewer than 5 examples are memorized or fewer than 5 are not); "
    "None unless the final model memorizes some but not all examples measured",
}


def rows_by_model(rows: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """``{model label: {example id: row}}``."""
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        out.setdefault(r["model"], {})[str(r["id"])] = r
    return out


def compare(early: dict[str, dict], final: dict[str, dict], cfg: ForecastConfig) -> dict:
    """:func:`forecast_stats` over the examples both models scored (the final model's order)."""
    ids = [i for i in final if i in early]
    if not ids:
        raise InputError("the early and the final model share no scored example; check --data and --id-column")
    e, f = [early[i] for i in ids], [final[i] for i in ids]
    scores = {p.name: p.values(e) for p in ordered() if any(r.get(p.field) is not None for r in e)}
    return forecast_stats([bool(r["exact"]) for r in e], [bool(r["exact"]) for r in f], scores, cfg.n_boot, cfg.seed)


def _row(entry: ModelEntry, early: dict[str, dict], final: dict[str, dict], cfg: ForecastConfig) -> dict:
    res = {
        "label": entry.label,
        "source": entry.source,
        "fraction": entry.fraction,
        "fraction_from": entry.fraction_from,
        **compare(early, final, cfg),
    }
    kinds = sorted({r["kind"] for r in final.values()})
    if len(kinds) > 1:
        res["by_kind"] = {k: compare(_of_kind(early, k), _of_kind(final, k), cfg) for k in kinds}
    return res


def _of_kind(rows: dict[str, dict], kind: str) -> dict[str, dict]:
    return {i: r for i, r in rows.items() if r["kind"] == kind}


def forecast_result(entries: Sequence[ModelEntry], rows: Sequence[dict], cfg: ForecastConfig, skipped: int = 0) -> dict:
    """The whole forecast (``forecast.json``): settings, the final model's memorized set, one row per early
    model (ordered by fraction of training seen when all are known, else as given)."""
    per_model = rows_by_model(rows)
    final = next(e for e in entries if e.role == "final")
    frows = per_model[final.label]
    n_mem = sum(bool(r["exact"]) for r in frows.values())
    return {
        "prefix_len": cfg.prefix_len,
        "suffix_len": cfg.suffix_len,
        "n_examples": len(frows),
        "skipped_short": skipped,
        "final": {
            "label": final.label,
            "source": final.source,
            "fraction": final.fraction,
            "n_memorized": n_mem,
            "memorization_rate": n_mem / len(frows) if frows else None,
        },
        "predictors": {
            p.name: {"field": p.field, "orientation": p.orientation, "description": p.description} for p in ordered()
        },
        "definitions": DEFINITIONS,
        "early": [_row(e, per_model[e.label], frows, cfg) for e in in_order(entries)],
    }
