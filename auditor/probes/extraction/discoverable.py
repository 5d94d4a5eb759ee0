"""Discoverable extraction: greedy-decode from each training text's prefix and compare with its true suffix.

Carlini et al. 2023, "Quantifying memorization across neural language models" (arXiv:2202.07646): a
text is *k-extractable* when greedy decoding from its first k tokens reproduces the next m tokens
exactly. Alongside the exact rate we report Pythia's memorization score (fraction of suffix tokens
matched; Biderman et al. 2023, arXiv:2304.11158) and approximate memorization (Ippolito et al. 2022,
arXiv:2210.17546): token edit similarity and BLEU-4, with a text counted as approximately memorized
when the chosen one is >= a threshold (default similarity >= 0.75). See ``match`` for definitions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.decoding import decode
from auditor.probes.extraction.items import Item, as_rows, check_context, row_ids, row_repeats, token_items
from auditor.probes.extraction.match import match_metrics
from auditor.stats.intervals import bounded_mean_ci, proportion_ci

APPROX_METRICS = ("similarity", "bleu")


def score_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Item],
    batch_size: int | None = None,
    keep_text: bool = True,
) -> list[dict]:
    """Greedy-decode each item's target length after its prefix; one dict of match metrics per item."""
    if not items:
        return []
    steps = max(len(it.target) for it in items)
    gen = decode(model, [it.prefix for it in items], steps, pad_id=tokenizer.pad_token_id, batch_size=batch_size)
    out = []
    for it, g in zip(items, gen.tokens, strict=True):
        g = g[: len(it.target)]
        row = {"id": it.id, "prefix_len": it.prefix_len, "suffix_len": len(it.target), **match_metrics(g, it.target)}
        if it.repeats is not None:
            row["repeats"] = it.repeats
        if keep_text:
            row["generated"] = tokenizer.decode(g)
            row["target"] = tokenizer.decode(list(it.target))
        out.append(row)
    return out


def extraction_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: TextSet | Sequence[dict] | Sequence[str],
    prefix_len: int = 32,
    suffix_len: int = 32,
    batch_size: int | None = None,
    *,
    text_column: str = "text",
    id_column: str = "id",
    repeats_column: str | None = "repeats",
    keep_text: bool = False,
) -> list[dict]:
    """Per text (too-short texts left out): ``id, prefix_len, suffix_len, exact, token_match, matched_prefix,
    longest_run, similarity, bleu`` (+ ``repeats`` where the rows carry it). No run directory needed."""
    rows = as_rows(texts)
    if any(text_column not in r for r in rows):
        raise InputError(f"a row has no column {text_column!r}; name the text column")
    check_context(model, len(split_lead(tokenizer)) + prefix_len + suffix_len, "prefix plus suffix")
    items, short = token_items(
        tokenizer,
        row_ids(rows, id_column),
        [r[text_column] for r in rows],
        prefix_len,
        suffix_len,
        row_repeats(rows, repeats_column),
    )
    if not items:
        raise_all_short(len(rows), short, prefix_len, suffix_len, tokenizer, [r[text_column] for r in rows])
    return score_items(model, tokenizer, items, batch_size, keep_text)


def split_lead(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The special tokens the tokenizer puts before a text (e.g. ``[BOS]``), found on a probe string."""
    w = tokenizer("a", add_special_tokens=True)["input_ids"]
    p = tokenizer("a", add_special_tokens=False)["input_ids"]
    return next((w[:k] for k in range(len(w) - len(p) + 1) if w[k : k + len(p)] == p), [])


def raise_all_short(
    n: int, short: int, prefix_len: int, suffix_len: int, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> None:
    longest = max((len(x) for x in tokenizer(list(texts), add_special_tokens=False)["input_ids"]), default=0)
    raise InputError(
        f"all {n} texts are too short: prefix_len + suffix_len = {prefix_len} + {suffix_len} = "
        f"{prefix_len + suffix_len} tokens are needed, the longest text has {longest}; "
        "lower --prefix-len / --suffix-len"
    )


def aggregate(rows: Sequence[dict], threshold: float = 0.75, approx_metric: str = "similarity") -> dict:
    """Rates and means over scored rows, with 95% intervals of positive width at every n >= 1.

    Rates (k of n texts) get the Wilson (1927) score interval; the means of per-text fractions in [0, 1]
    (``token_match``, Pythia's memorization score, Biderman et al. 2023; ``similarity`` and ``bleu``, Ippolito
    et al. 2022) get :func:`auditor.stats.intervals.bounded_mean_ci`, the Wilson interval at the mean (conservative:
    a [0, 1] variable with mean p has variance <= p(1 - p)). ``longest_run`` and ``matched_prefix`` (token counts)
    have none."""
    if approx_metric not in APPROX_METRICS:
        raise ConfigError(f"unknown approx_metric {approx_metric!r}; use one of: {', '.join(APPROX_METRICS)}")
    n = len(rows)
    if n == 0:
        return {"n": 0, "exact_extraction_rate": None, "approx_extraction_rate": None, "token_match": None}
    exact = sum(bool(r["exact"]) for r in rows)
    approx = sum(r[approx_metric] >= threshold for r in rows)
    tm, sim, bleu = (np.array([r[k] for r in rows], dtype=np.float64) for k in ("token_match", "similarity", "bleu"))
    return {
        "n": n,
        "exact_extraction_rate": exact / n,
        "exact_extraction_rate_ci": list(proportion_ci(exact, n)),
        "approx_extraction_rate": approx / n,
        "approx_extraction_rate_ci": list(proportion_ci(approx, n)),
        "token_match": float(tm.mean()),
        "token_match_ci": list(bounded_mean_ci(tm)),
        "similarity": float(np.mean(sim)),
        "similarity_ci": list(bounded_mean_ci(sim)),
        "bleu": float(np.mean(bleu)),
        "bleu_ci": list(bounded_mean_ci(bleu)),
        "longest_run": float(np.mean([r["longest_run"] for r in rows])),
        "matched_prefix": float(np.mean([r["matched_prefix"] for r in rows])),
    }


def by_repeats(rows: Sequence[dict], threshold: float = 0.75, approx_metric: str = "similarity") -> dict[str, dict]:
    """``aggregate`` per duplication count, keys in increasing count order (rows without ``repeats`` ignored)."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("repeats") is not None:
            groups[int(r["repeats"])].append(r)
    return {str(k): aggregate(groups[k], threshold, approx_metric) for k in sorted(groups)}
