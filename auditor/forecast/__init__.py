"""Forecast which examples a final model memorizes from an early checkpoint or a smaller model.

Biderman et al. 2023, "Emergent and Predictable Memorization in Large Language Models" (NeurIPS,
arXiv:2304.11158): a sequence's memorization score is the fraction of its 32 suffix tokens greedy decoding
reproduces after its 32-token prefix, and it is memorized (k-extractable) when the score is 1. The set an
early checkpoint memorizes forecasts the final model's set; the forecast is judged by its precision and
recall. Continuous early statistics (the memorization score, -NLL, -EL2N of Paul et al. 2021, "Deep
Learning on a Data Diet", and a canary's exposure) are judged by their AUC against the final labels.

Modules, one job each: ``config`` (settings), ``stats`` (precision / recall / AUC: pure numpy),
``predictors`` (the continuous predictors and their orientation, a registry), ``kinds`` (plain texts and
canaries as token ids, a registry), ``tokens`` (every model must see the same token ids), ``entries``
(labels, roles, fraction of training seen), ``scoring`` (one model's per-example rows), ``table`` (the
forecast from ``examples.jsonl``), ``render`` and ``plot`` (Markdown, stdout, PNG), ``runner`` (load, score,
free, resume, write).
"""

from __future__ import annotations

from auditor.forecast.config import ForecastConfig
from auditor.forecast.stats import forecast_stats, precision_recall, predictor_auc

__all__ = ["ForecastConfig", "forecast_stats", "precision_recall", "predictor_auc"]
