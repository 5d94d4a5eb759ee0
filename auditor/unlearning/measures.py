"""The ``unlearning`` family: MUSE / TOFU measurements of one checkpoint at one point.

MUSE (Shi et al. 2024, arXiv:2407.06460; swj0419/muse_bench); TOFU (Maini et al. 2024, arXiv:2401.06121;
locuslab/open-unlearning). Definitions in :mod:`auditor.unlearning.generate` and :mod:`auditor.unlearning.tofu`:

* ``verbmem_forget`` / ``verbmem_retain``: MUSE's VerbMem, mean ROUGE-L F1 of the greedy continuation of
  each text's first ``prefix_len`` tokens against its true next ``suffix_len`` tokens;
  ``verbmem_forget_edit`` / ``verbmem_retain_edit``: the same generations' token edit similarity;
* ``knowmem_forget`` / ``knowmem_retain``: MUSE's KnowMem, mean ROUGE-L F1 of the greedy answer
  (``knowmem_max_new_tokens``, cut at MUSE's stop strings) against the gold answer;
* ``forget_auc`` / ``retain_auc``: AUC of an MIA (default Min-K% with k = 0.4, as MUSE) that forget
  (retain) texts score as more member-like than holdout texts; PrivLeak is derived from it against the
  retrain model (:func:`auditor.unlearning.compare.privleak`);
* ``holdout_ppl``: perplexity of the holdout texts;
* TOFU: ``truth_ratio_forget`` (mean min(R, 1/R); the per-question R in ``extra.truth_ratios``, from which
  forget quality is derived against the retrain model), and with a retain QA file ``prob_retain``,
  ``rouge_recall_retain``, ``truth_ratio_retain`` and ``model_utility`` (their harmonic mean).

At a pruned point (the resurfacing check: does unlearned knowledge come back under compression?) only
``verbmem_forget`` and ``knowmem_forget`` are measured. Per-text MIA scores, VerbMem ROUGE-L and truth
ratios go to ``samples/unlearning`` (the onion check reads them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.errors import InputError
from auditor.family import DENSE, FamilyContext
from auditor.inputs.data import TextSet, load_texts, read_rows
from auditor.inputs.overlap import refuse_shared
from auditor.lm.scoring import mean_nll
from auditor.probes.mia.runner import MIAConfig, expand_attacks, score_texts
from auditor.stats.metrics import auc
from auditor.store.runs import Record
from auditor.unlearning import tofu
from auditor.unlearning.figures import UNLEARNING_FIGURES, unlearning_tree
from auditor.unlearning.generate import knowmem_answers, knowmem_scores, verbmem_scores


@dataclass(frozen=True)
class UnlearningSection:
    """The data and settings of the unlearning measurements."""

    forget: str | None = None  # texts to forget (jsonl/csv/parquet/txt; id + text)
    retain: str | None = None  # texts to keep
    holdout: str | None = None  # texts never trained on, same distribution (the MIA's non-members)
    # QA pairs about the forget set: {"id", "prompt", "answer"}, optionally TOFU's "paraphrased_answer"
    # and "perturbed_answer" (a list) for the truth ratio
    forget_qa: str | None = None
    retain_qa: str | None = None
    mia_attack: str = "min_k@0.4"
    prefix_len: int = 12  # VerbMem: tokens of each text given as the prompt
    suffix_len: int = 16  # VerbMem: tokens generated and compared
    knowmem_max_new_tokens: int = 32  # KnowMem: tokens generated per answer (MUSE: 32)
    text_column: str = "text"
    id_column: str = "id"


@dataclass
class Sets:
    forget: TextSet
    retain: TextSet
    holdout: TextSet
    forget_qa: list[dict]
    retain_qa: list[dict]
    section: UnlearningSection


def check_disjoint(forget: TextSet, retain: TextSet) -> None:
    """Forget and retain must not share ids or texts; the error lists the overlap."""
    if len(forget) == 0:
        raise InputError(f"the forget set {forget.source} is empty; give at least one text to forget")
    ids = sorted(set(forget.ids) & set(retain.ids))
    texts = set(forget.texts) & set(retain.texts)
    both = ids + sorted({i for i, t in zip(retain.ids, retain.texts, strict=True) if t in texts} - set(ids))
    if both:
        shown = ", ".join(both[:20]) + (f" ... ({len(both)} in all)" if len(both) > 20 else "")
        raise InputError(f"forget and retain sets overlap (same id or same text): {shown}; remove them from one")


def read_qa(path: str | None) -> list[dict]:
    if not path:
        return []
    rows = read_rows(path)
    for i, r in enumerate(rows):
        for key in ("prompt", "answer"):
            if not isinstance(r.get(key), str):
                raise InputError(f"{path}: row {i + 1} lacks a string {key!r}; QA rows are {{id, prompt, answer}}")
        r.setdefault("id", str(i))
    return rows


def load_sets(s: UnlearningSection) -> Sets:
    if not (s.forget and s.retain and s.holdout):
        raise InputError("unlearning: give forget, retain and holdout files")
    forget, retain = load_texts(s.forget, s.text_column, s.id_column), load_texts(s.retain, s.text_column, s.id_column)
    check_disjoint(forget, retain)
    holdout = load_texts(s.holdout, s.text_column, s.id_column)
    refuse_shared(forget, "forget", holdout, "holdout")  # the holdout is the MIA's non-members
    refuse_shared(retain, "retain", holdout, "holdout")
    return Sets(forget, retain, holdout, read_qa(s.forget_qa), read_qa(s.retain_qa), s)


def _mia(ctx: FamilyContext, texts: list[str], attack: str) -> np.ndarray:
    variants = expand_attacks([attack], False)
    scores, _ = score_texts(ctx.model, ctx.tokenizer, texts, variants, MIAConfig(batch_size=ctx.batch_size))
    return np.asarray(scores[variants[0][0]], dtype=float)


def _mean(values: list[float]) -> float | None:
    v = np.asarray(values, dtype=float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else None


def _verbmem(ctx: FamilyContext, texts: list[str], s: UnlearningSection) -> dict[str, list[float]]:
    rows = verbmem_scores(ctx.model, ctx.tokenizer, texts, s.prefix_len, s.suffix_len, ctx.batch_size)
    return {k: [r[k] for r in rows] for k in ("rouge_l", "edit")}


def _knowmem(ctx: FamilyContext, rows: list[dict], s: UnlearningSection) -> dict[str, list[float]] | None:
    if not rows:
        return None
    gen = knowmem_answers(
        ctx.model, ctx.tokenizer, [r["prompt"] for r in rows], s.knowmem_max_new_tokens, ctx.batch_size
    )
    return knowmem_scores([r["answer"] for r in rows], gen)


def _rows(kind: str, name: str, ids: list[str], values: object) -> list[dict]:
    return [{"kind": kind, "set": name, "id": i, "value": float(v)} for i, v in zip(ids, values, strict=True)]  # type: ignore[call-overload]


def _truth_ratios(ctx: FamilyContext, rows: list[dict]) -> tuple[list[float], dict]:
    """Per-row truth ratios and the record extra naming where the answer options came from."""
    opts = tofu.options(rows)
    ratios = tofu.truth_ratios(ctx.model, ctx.tokenizer, opts, ctx.batch_size)
    return ratios, {"truth_ratio_data": opts.source, "n_fallback": opts.n_fallback, "n_questions": len(rows)}


def _tofu(ctx: FamilyContext, sets: Sets, know_retain: dict | None) -> tuple[dict, dict, list[dict]]:
    """TOFU's figures at the dense point: ``(figures, extra per figure, sample rows)``."""
    figs: dict[str, float | None] = {}
    extras: dict[str, dict] = {}
    samples: list[dict] = []
    if sets.forget_qa:
        tr, extra = _truth_ratios(ctx, sets.forget_qa)
        figs["truth_ratio_forget"] = tofu.forget_truth_ratio(tr)
        extras["truth_ratio_forget"] = extra | {"truth_ratios": [x for x in tr if math.isfinite(x)]}
        samples += _rows("truth_ratio", "forget", [r["id"] for r in sets.forget_qa], tr)
    if sets.retain_qa and know_retain is not None:
        rows = sets.retain_qa
        tr, extra = _truth_ratios(ctx, rows)
        gold = tofu.answer_logprobs(
            ctx.model, ctx.tokenizer, [r["prompt"] for r in rows], [r["answer"] for r in rows], ctx.batch_size
        )
        parts = {
            "prob_retain": _mean([math.exp(x) for x in gold]),
            "rouge_recall_retain": _mean(know_retain["rouge_l_recall"]),
            "truth_ratio_retain": tofu.retain_truth_ratio(tr),
        }
        figs |= parts | {"model_utility": tofu.model_utility(list(parts.values()))}
        extras |= {"truth_ratio_retain": extra, "model_utility": extra | {"components": list(parts)}}
        samples += _rows("truth_ratio", "retain", [r["id"] for r in rows], tr)
    return figs, extras, samples


class UnlearningFamily:
    """Family ``unlearning`` (section ``unlearning``)."""

    name = "unlearning"
    section = "unlearning"
    needs = frozenset({"loglik", "generate", "texts"})
    samples = "unlearning"
    figures = UNLEARNING_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        """Every checkpoint's measures at this point (``all_rows``), with PrivLeak and forget quality against
        the ``retrain`` oracle."""
        out = unlearning_tree(all_rows)
        return {"unlearning": out} if out else {}

    def prepare(self, sections: object, lab: Path | None) -> Sets:
        return load_sets(sections.unlearning)  # type: ignore[attr-defined]

    def run(self, ctx: FamilyContext, sets: Sets) -> list[Record]:
        s = sets.section
        vf, kf = _verbmem(ctx, sets.forget.texts, s), _knowmem(ctx, sets.forget_qa, s)
        figs: dict[str, float | None] = {
            "verbmem_forget": _mean(vf["rouge_l"]),
            "verbmem_forget_edit": _mean(vf["edit"]),
            "knowmem_forget": _mean(kf["rouge_l"]) if kf else None,
        }
        extras: dict[str, dict] = {}
        if ctx.point.method == DENSE:
            extras = self._dense(ctx, sets, figs)
        base = {
            "attack": s.mia_attack,
            "prefix_len": s.prefix_len,
            "suffix_len": s.suffix_len,
            "knowmem_max_new_tokens": s.knowmem_max_new_tokens,
        }
        return [
            Record("unlearning", k, "value", v, extra=base | extras.get(k, {}), **ctx.tags)
            for k, v in figs.items()
            if v is not None
        ]

    def _dense(self, ctx: FamilyContext, sets: Sets, figs: dict) -> dict[str, dict]:
        """The dense point's further figures (added to ``figs``) and samples; returns the records' extras."""
        s = sets.section
        fs, rs = _mia(ctx, sets.forget.texts, s.mia_attack), _mia(ctx, sets.retain.texts, s.mia_attack)
        hs = _mia(ctx, sets.holdout.texts, s.mia_attack)
        vr, kr = _verbmem(ctx, sets.retain.texts, s), _knowmem(ctx, sets.retain_qa, s)
        nll = mean_nll(ctx.model, ctx.tokenizer, sets.holdout.texts, ctx.batch_size or 32)
        figs |= {
            "verbmem_retain": _mean(vr["rouge_l"]),
            "verbmem_retain_edit": _mean(vr["edit"]),
            "knowmem_retain": _mean(kr["rouge_l"]) if kr else None,
            "forget_auc": auc(fs, hs),
            "retain_auc": auc(rs, hs),
            "holdout_ppl": float(math.exp(sum(nll) / len(nll))),
        }
        tofu_figs, extras, tofu_rows = _tofu(ctx, sets, kr)
        figs |= tofu_figs
        store = ctx.samples(self.samples)
        if not store.has("per-text"):
            rows = _rows("mia", "forget", sets.forget.ids, fs) + _rows("mia", "retain", sets.retain.ids, rs)
            rows += _rows("mia", "holdout", sets.holdout.ids, hs)
            rows += _rows("verbatim", "retain", sets.retain.ids, vr["rouge_l"]) + tofu_rows
            store.append("per-text", rows)
        return extras
