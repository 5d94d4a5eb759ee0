"""TOFU's truth ratio and model utility (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for
LLMs", arXiv:2401.06121), as locuslab/open-unlearning computes them.

* Normalized answer probability: ``P(a | q) ** (1 / |a|)`` = exp(mean log-prob of the answer's tokens),
  the answer appended to the prompt as given and only its tokens scored (open-unlearning
  ``src/evals/metrics/utils.py``, ``evaluate_probability``: ``exp(-avg_loss)``; TOFU's labels also hold
  an EOS token, ours do not).
* Truth ratio of a question: the geometric mean of the normalized probabilities of the perturbed
  (wrong) answers over the normalized probability of the paraphrased (correct) answer,
  ``R = exp(mean_k avg_logp(pert_k) - avg_logp(para))`` (open-unlearning ``memorization.py``,
  ``truth_ratio``: ``wrong_prob / correct_prob`` with ``wrong_prob = exp(-mean_k avg_loss_k)``).
  Forget set: ``mean(min(R, 1/R))`` (``closer_to_1_better``); retain set: ``mean(max(0, 1 - R))``
  (``true_better``).
* Forget quality (derived against the retrain model, :func:`auditor.unlearning.figures.unlearning_tree`): the
  p-value of ``scipy.stats.ks_2samp`` between the model's and the retrain model's forget-set R values
  (open-unlearning ``privacy.py``, ``ks_test``).
* Model utility: the harmonic mean (``scipy.stats.hmean``) of open-unlearning's ``model_utility``
  components that a retain QA file can supply: retain Prob (mean normalized gold-answer probability),
  retain ROUGE (ROUGE-L recall, stemmed, of the greedy answer) and retain Truth Ratio. TOFU's other six
  (real authors, world facts) need TOFU's own data and are not included.

QA rows may carry TOFU's columns ``paraphrased_answer`` (a string) and ``perturbed_answer`` (a list of
strings; ``perturbed_answers`` is read too). A row without them falls back to its gold ``answer`` as the
paraphrase and up to five other rows' distinct answers (the next ones in file order, cyclically) as the
perturbed answers: NOT TOFU's data, so records name it (``truth_ratio_data``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import hmean
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.lm.scoring import continuation_logprobs

PARAPHRASE = "paraphrased_answer"
PERTURBED = ("perturbed_answer", "perturbed_answers")  # TOFU's column name first
N_FALLBACK = 5  # TOFU gives five perturbed answers per question


@dataclass(frozen=True)
class Options:
    """Per QA row: the prompt, the correct (paraphrased) answer and the wrong (perturbed) answers."""

    prompts: tuple[str, ...]
    correct: tuple[str, ...]
    wrong: tuple[tuple[str, ...], ...]
    n_fallback: int  # rows whose options are the fallback, not the file's own

    @property
    def source(self) -> str:
        """``tofu`` (every row has its own options), ``fallback`` (none has) or ``mixed``."""
        return "tofu" if not self.n_fallback else "fallback" if self.n_fallback == len(self.prompts) else "mixed"


def _perturbed(row: dict) -> list[str] | None:
    """The row's perturbed answers: a string or a non-empty sequence of strings (a parquet array too)."""
    for key in PERTURBED:
        v = row.get(key)
        if isinstance(v, str):
            return [v]
        items = list(v) if v is not None and not isinstance(v, dict) and hasattr(v, "__iter__") else []
        if items and all(isinstance(x, str) for x in items):
            return items
    return None


def _others(rows: Sequence[dict], i: int) -> tuple[str, ...]:
    """Up to ``N_FALLBACK`` distinct answers of the rows after ``i`` (cyclically) that differ from row i's."""
    seen = {rows[i]["answer"].strip().casefold()}
    out: list[str] = []
    for k in range(1, len(rows)):
        a = rows[(i + k) % len(rows)]["answer"]
        if a.strip().casefold() not in seen:
            seen.add(a.strip().casefold())
            out.append(a)
        if len(out) == N_FALLBACK:
            break
    return tuple(out)


def options(rows: Sequence[dict]) -> Options:
    """The truth-ratio options of QA rows ``{prompt, answer[, paraphrased_answer, perturbed_answer]}``."""
    correct, wrong, n_fallback = [], [], 0
    for i, r in enumerate(rows):
        para, pert = r.get(PARAPHRASE), _perturbed(r)
        if isinstance(para, str) and pert is not None:
            correct.append(para)
            wrong.append(tuple(pert))
        else:
            n_fallback += 1
            correct.append(r["answer"])
            wrong.append(_others(rows, i))
    return Options(tuple(r["prompt"] for r in rows), tuple(correct), tuple(wrong), n_fallback)


def answer_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    answers: Sequence[str],
    batch_size: int | None = None,
) -> list[float]:
    """Mean log-prob per answer token of each answer after its prompt; NaN for an answer with no tokens."""
    p_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    a_ids = tokenizer(list(answers), add_special_tokens=False)["input_ids"]
    if any(not p for p in p_ids):
        raise InputError("a QA prompt tokenizes to nothing; give every question at least one token")
    keep = [i for i, a in enumerate(a_ids) if a]
    seqs = [p_ids[i] + a_ids[i] for i in keep]
    sums = continuation_logprobs(model, seqs, [len(a_ids[i]) for i in keep], tokenizer.pad_token_id, batch_size)
    out = [math.nan] * len(answers)
    for i, s in zip(keep, sums, strict=True):
        out[i] = s / len(a_ids[i])
    return out


def truth_ratios(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, opts: Options, batch_size: int | None = None
) -> list[float]:
    """Per row: ``R = exp(mean_k avg_logp(wrong_k) - avg_logp(correct))``; NaN where either side is unscorable."""
    prompts = list(opts.prompts) + [p for p, ws in zip(opts.prompts, opts.wrong, strict=True) for _ in ws]
    answers = list(opts.correct) + [w for ws in opts.wrong for w in ws]
    lps = answer_logprobs(model, tokenizer, prompts, answers, batch_size)
    pos, out = len(opts.prompts), []
    for i, ws in enumerate(opts.wrong):
        wrong = [x for x in lps[pos : pos + len(ws)] if not math.isnan(x)]
        pos += len(ws)
        ok = wrong and not math.isnan(lps[i])
        out.append(math.exp(sum(wrong) / len(wrong) - lps[i]) if ok else math.nan)
    return out


def _finite(values: Sequence[float]) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def forget_truth_ratio(ratios: Sequence[float]) -> float | None:
    """TOFU's forget-set statistic ``mean(min(R, 1/R))`` (1 = the model cannot tell right from wrong)."""
    r = _finite(ratios)
    return float(np.mean(np.minimum(r, 1 / r))) if r.size else None


def retain_truth_ratio(ratios: Sequence[float]) -> float | None:
    """TOFU's retain-set statistic ``mean(max(0, 1 - R))`` (1 = wrong answers far less likely than right)."""
    r = _finite(ratios)
    return float(np.mean(np.maximum(0.0, 1 - r))) if r.size else None


def model_utility(components: Sequence[float | None]) -> float | None:
    """Harmonic mean of the utility components (None when one is missing; 0 when one is 0)."""
    if not components or any(c is None or not math.isfinite(c) for c in components):
        return None
    return float(hmean(np.asarray(components, dtype=float)))
