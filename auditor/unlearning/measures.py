"""The ``unlearning`` family: MUSE / TOFU-style measurements of one checkpoint at one point.

MUSE (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation"); TOFU (Maini et al. 2024):

* ``verbmem_forget`` / ``verbmem_retain``: mean similarity of the greedy continuation of each text's
  first ``prefix_len`` tokens to its true next ``suffix_len`` tokens (normalized token edit-distance
  similarity; MUSE uses ROUGE-L of the continuation);
* ``knowmem_forget`` / ``knowmem_retain``: QA accuracy about the forget / retain sets (greedy answer match);
* ``forget_auc`` / ``retain_auc``: the AUC of an MIA (default Min-K% with k = 0.4, as MUSE) separating
  forget (retain) texts from holdout texts; PrivLeak is derived from it against the retrain model;
* ``holdout_ppl``: perplexity of the holdout texts.

At a pruned point (the resurfacing check: does unlearned knowledge come back under compression?) only
``verbmem_forget`` and ``knowmem_forget`` are measured. Per-text MIA scores and verbatim similarities
go to ``samples/unlearning`` (the onion check reads them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.data import TextSet, load_texts, read_rows
from auditor.errors import InputError
from auditor.family import DENSE, FamilyContext
from auditor.lm.scoring import greedy_answer_match, mean_nll
from auditor.metrics import auc
from auditor.probes.extraction.discoverable import extraction_scores
from auditor.probes.mia.runner import MIAConfig, expand_attacks, score_texts
from auditor.runs import Record


@dataclass(frozen=True)
class UnlearningSection:
    """The data and settings of the unlearning measurements."""

    forget: str | None = None  # texts to forget (jsonl/csv/parquet/txt; id + text)
    retain: str | None = None  # texts to keep
    holdout: str | None = None  # texts never trained on, same distribution (the MIA's non-members)
    forget_qa: str | None = None  # QA pairs about the forget set: {"id", "prompt", "answer"}
    retain_qa: str | None = None
    mia_attack: str = "min_k@0.4"
    prefix_len: int = 12  # VerbMem: tokens of each text given as the prompt
    suffix_len: int = 16  # VerbMem: tokens compared
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
    return rows


def load_sets(s: UnlearningSection) -> Sets:
    if not (s.forget and s.retain and s.holdout):
        raise InputError("unlearning: give forget, retain and holdout files")
    forget, retain = load_texts(s.forget, s.text_column, s.id_column), load_texts(s.retain, s.text_column, s.id_column)
    check_disjoint(forget, retain)
    holdout = load_texts(s.holdout, s.text_column, s.id_column)
    return Sets(forget, retain, holdout, read_qa(s.forget_qa), read_qa(s.retain_qa), s)


def _mia(ctx: FamilyContext, texts: list[str], attack: str) -> np.ndarray:
    variants = expand_attacks([attack], False)
    scores, _ = score_texts(ctx.model, ctx.tokenizer, texts, variants, MIAConfig(batch_size=ctx.batch_size))
    return np.asarray(scores[variants[0][0]], dtype=float)


def _verbatim(ctx: FamilyContext, texts: list[str], s: UnlearningSection) -> list[float]:
    """Per-text similarity of the greedy continuation to the true suffix (texts too short: NaN)."""
    rows = extraction_scores(ctx.model, ctx.tokenizer, texts, s.prefix_len, s.suffix_len, ctx.batch_size)
    return [float(r["similarity"]) if r is not None else math.nan for r in rows]


def _qa(ctx: FamilyContext, rows: list[dict]) -> float | None:
    if not rows:
        return None
    prompts, answers = [r["prompt"] for r in rows], [r["answer"] for r in rows]
    hits = greedy_answer_match(ctx.model, ctx.tokenizer, prompts, answers, ctx.batch_size or 64)
    return sum(hits) / len(hits)


def _rows(kind: str, name: str, ts: TextSet, values: object) -> list[dict]:
    return [{"kind": kind, "set": name, "id": i, "value": float(v)} for i, v in zip(ts.ids, values, strict=True)]  # type: ignore[call-overload]


class UnlearningFamily:
    """Family ``unlearning`` (section ``unlearning``)."""

    name = "unlearning"
    section = "unlearning"
    needs = frozenset({"loglik", "generate", "texts"})
    samples = "unlearning"

    def prepare(self, sections: object, lab: Path | None) -> Sets:
        return load_sets(sections.unlearning)  # type: ignore[attr-defined]

    def run(self, ctx: FamilyContext, sets: Sets) -> list[Record]:
        s = sets.section
        vf = _verbatim(ctx, sets.forget.texts, s)
        figs: dict[str, float | None] = {
            "verbmem_forget": float(np.nanmean(vf)),
            "knowmem_forget": _qa(ctx, sets.forget_qa),
        }
        if ctx.point.method == DENSE:
            fs, rs = _mia(ctx, sets.forget.texts, s.mia_attack), _mia(ctx, sets.retain.texts, s.mia_attack)
            hs = _mia(ctx, sets.holdout.texts, s.mia_attack)
            vr = _verbatim(ctx, sets.retain.texts, s)
            nll = mean_nll(ctx.model, ctx.tokenizer, sets.holdout.texts, ctx.batch_size or 32)
            figs |= {"verbmem_retain": float(np.nanmean(vr)), "knowmem_retain": _qa(ctx, sets.retain_qa),
                     "forget_auc": auc(fs, hs), "retain_auc": auc(rs, hs),
                     "holdout_ppl": float(math.exp(sum(nll) / len(nll)))}  # fmt: skip
            store = ctx.samples(self.samples)
            if not store.has("per-text"):
                rows = _rows("mia", "forget", sets.forget, fs) + _rows("mia", "retain", sets.retain, rs)
                rows += _rows("mia", "holdout", sets.holdout, hs) + _rows("verbatim", "retain", sets.retain, vr)
                store.append("per-text", rows)
        extra = {"attack": s.mia_attack, "prefix_len": s.prefix_len, "suffix_len": s.suffix_len}
        return [Record("unlearning", k, "value", v, extra=extra, **ctx.tags) for k, v in figs.items() if v is not None]
