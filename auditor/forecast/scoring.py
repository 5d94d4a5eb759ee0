"""Per-example memorization of ONE model: the rows it adds to ``examples.jsonl``.

For each example (see :mod:`auditor.forecast.kinds`): greedy decoding of the suffix after the prompt,
batched with a KV cache (:func:`auditor.probes.extraction.discoverable.score_items`, as ``auditor
extract``), giving

* ``score``: the memorization score of Biderman et al. 2023 (arXiv:2304.11158), the fraction of the suffix
  tokens reproduced at their position; ``exact``: score == 1, i.e. the example is k-extractable (Carlini
  et al. 2023) with k = the prompt length: "memorized";
* ``nll``: the mean per-token negative log-likelihood of the example's sequence and ``el2n``: its mean
  per-token LM-EL2N (Paul et al. 2021), both from ONE teacher-forced pass (the chunked ``reduce="el2n"`` of
  ``auditor.lm.forward.teacher_forced``, as ``mean_el2n``), over token ids already cut to the model's context;
* what the example's kind adds (a canary's ``exposure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.forecast.config import ForecastConfig
from auditor.forecast.kinds import KINDS, Tokenized
from auditor.lm.forward import teacher_forced
from auditor.lm.tokenstats import model_context
from auditor.probes.extraction.discoverable import score_items
from auditor.probes.extraction.items import check_context


def sequence_stats(
    model: PreTrainedModel, seqs: Sequence[Sequence[int]], pad_id: int, batch_size: int | None = None
) -> tuple[list[float], list[float]]:
    """(mean NLL, mean LM-EL2N) of each sequence, each cut to the model's context."""
    ctx = model_context(model)
    cut = [list(s[:ctx] if ctx else s) for s in seqs]
    res = teacher_forced(model, cut, pad_id=pad_id, reduce="el2n", batch_size=batch_size)  # one pass, both
    return [float(-lp.double().mean()) for lp, _ in res], [float(e.double().mean()) for _, e in res]


def score_kind(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, t: Tokenized, cfg: ForecastConfig
) -> list[dict]:
    """One row per example of one kind: ``id, kind, score, exact, nll, el2n`` (+ ``repeats``, kind extras)."""
    if not t.items:
        return []
    check_context(model, max(len(it.prefix) + len(it.target) for it in t.items), "a prompt plus its suffix")
    match = score_items(model, tokenizer, list(t.items), cfg.batch_size, keep_text=False)
    nll, el2n = sequence_stats(model, t.seqs, tokenizer.pad_token_id, cfg.batch_size)
    extra = KINDS.get(t.kind).extra(model, tokenizer, t, cfg)
    rows = []
    for m, a, b, x in zip(match, nll, el2n, extra, strict=True):
        row = {
            "id": m["id"],
            "kind": t.kind,
            "prefix_len": m["prefix_len"],
            "suffix_len": m["suffix_len"],
            "score": m["token_match"],
            "exact": bool(m["exact"]),
            "nll": a,
            "el2n": b,
        }
        if m.get("repeats") is not None:
            row["repeats"] = m["repeats"]
        rows.append(row | x)
    return rows


def score_model(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tokenized: Mapping[str, Tokenized], cfg: ForecastConfig
) -> list[dict]:
    """Rows of every kind, kind by kind (no member text: ids and numbers only)."""
    return [row for t in tokenized.values() for row in score_kind(model, tokenizer, t, cfg)]
