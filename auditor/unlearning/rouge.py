"""ROUGE-L as the two unlearning benchmarks score it, through Google's ``rouge-score`` package.

* MUSE (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation", arXiv:2407.06460): VerbMem and
  KnowMem are the mean ROUGE-L **F1** (``fmeasure``) of the generation against the reference, scored with
  ``RougeScorer(["rougeL"], use_stemmer=False)`` (swj0419/muse_bench ``metrics/logger.py``; ``eval.py``
  aggregates ``mean_rougeL``).
* TOFU (Maini et al. 2024, arXiv:2401.06121): the ROUGE component of model utility is ROUGE-L **recall**
  with the Porter stemmer (locuslab/open-unlearning ``src/evals/metrics/utils.py``,
  ``eval_text_similarity``: ``RougeScorer(["rouge1", "rougeL"], use_stemmer=True)``, ``rougeL_recall``).

rouge-score lowercases, replaces every non-alphanumeric character by a space and splits on whitespace,
so punctuation and spacing never count; an empty side scores 0. Scores are in [0, 1] (MUSE's tables
print them x 100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from rouge_score import rouge_scorer

# MUSE's KnowMem cuts the answer before the next few-shot turn (muse_bench metrics/knowmem.py).
MUSE_STOPS: tuple[str, ...] = ("\n\n", "\nQuestion", "Question:")


@dataclass(frozen=True)
class RougeVariant:
    """Which ROUGE-L figure, and whether words are Porter-stemmed first."""

    measure: str  # "fmeasure" | "recall" | "precision"
    stemmer: bool


MUSE_F1 = RougeVariant("fmeasure", stemmer=False)
TOFU_RECALL = RougeVariant("recall", stemmer=True)


@cache
def _scorer(stemmer: bool) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)


def rouge_l(reference: str, generated: str, variant: RougeVariant = MUSE_F1) -> float:
    """ROUGE-L of ``generated`` against ``reference`` (rouge-score's ``score(target, prediction)``)."""
    return float(getattr(_scorer(variant.stemmer).score(reference, generated)["rougeL"], variant.measure))


def cut_at_stops(text: str, stops: Sequence[str] = MUSE_STOPS) -> str:
    """The text before the first occurrence of each stop string in turn (MUSE's ``get_prefix_before_words_occur``)."""
    for s in stops:
        text = text.split(s)[0]
    return text
