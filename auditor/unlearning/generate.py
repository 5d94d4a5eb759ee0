"""Greedy generations scored with ROUGE-L: MUSE's VerbMem (text continuations) and KnowMem (QA answers).

Both follow MUSE (Shi et al. 2024, arXiv:2407.06460; swj0419/muse_bench ``metrics/verbmem.py`` and
``metrics/knowmem.py``): greedy decoding (``model.generate(do_sample=False)``, which stops at EOS), the new
tokens decoded with ``skip_special_tokens=True, clean_up_tokenization_spaces=True``, and ROUGE-L F1
against the reference. Decoding is batched (:func:`auditor.lm.decoding.decode`, token-identical to
``generate`` one prompt at a time); the tokens from the first EOS on are dropped, as ``generate`` stops there.

* VerbMem: the prompt is a text's first ``prefix_len`` tokens (after the tokenizer's BOS), the reference
  its next ``suffix_len`` tokens decoded, and ``suffix_len`` tokens are generated (MUSE gives a prompt
  string and the reference truncated to ``max_new_tokens`` = 128 tokens). The token edit similarity of
  the ``suffix_len`` generated tokens (:func:`auditor.probes.extraction.match.similarity`) is kept beside it.
* KnowMem: the QA row's ``prompt`` is used as given (MUSE builds ``"Question: {q}\\nAnswer: "`` after
  few-shot examples; write the prompt that way to match), ``max_new_tokens`` tokens (MUSE: 32) are
  generated and cut at MUSE's stop strings, then scored against ``answer``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.lm.decoding import decode
from auditor.probes.extraction.items import check_context, token_items
from auditor.probes.extraction.match import similarity
from auditor.unlearning.rouge import MUSE_F1, TOFU_RECALL, cut_at_stops, rouge_l


def until_eos(tokens: Sequence[int], eos_id: int | None) -> list[int]:
    """The tokens before the first EOS (all of them without an EOS id)."""
    toks = list(tokens)
    return toks[: toks.index(eos_id)] if eos_id is not None and eos_id in toks else toks


def to_text(tokenizer: PreTrainedTokenizerBase, tokens: Sequence[int]) -> str:
    """MUSE's decoding of generated or reference tokens."""
    return tokenizer.decode(list(tokens), skip_special_tokens=True, clean_up_tokenization_spaces=True)


def greedy_tokens(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    batch_size: int | None = None,
) -> list[list[int]]:
    """``max_new_tokens`` greedy tokens after each prompt (EOS not stopping: cut with :func:`until_eos`)."""
    if not prompts:
        return []
    return decode(model, prompts, max_new_tokens, pad_id=tokenizer.pad_token_id, batch_size=batch_size).tokens


def verbmem_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    prefix_len: int,
    suffix_len: int,
    batch_size: int | None = None,
) -> list[dict[str, float]]:
    """Per text, in order: ``{"rouge_l": MUSE's ROUGE-L F1, "edit": token edit similarity}``; NaN for texts
    shorter than ``prefix_len + suffix_len`` tokens."""
    items, _ = token_items(tokenizer, [str(i) for i in range(len(texts))], list(texts), prefix_len, suffix_len)
    check_context(model, max((len(it.prefix) for it in items), default=0) + suffix_len, "VerbMem prefix plus suffix")
    gen = greedy_tokens(model, tokenizer, [it.prefix for it in items], suffix_len, batch_size)
    out = [{"rouge_l": math.nan, "edit": math.nan} for _ in texts]
    eos = tokenizer.eos_token_id
    for it, g in zip(items, gen, strict=True):
        ref, cont = to_text(tokenizer, it.target), to_text(tokenizer, until_eos(g, eos))
        out[int(it.id)] = {"rouge_l": rouge_l(ref, cont, MUSE_F1), "edit": similarity(g, it.target)}
    return out


def knowmem_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int | None = None,
) -> list[str]:
    """The greedy answer to each prompt: decoded up to EOS and cut at MUSE's stop strings."""
    ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    if any(not p for p in ids):
        raise InputError("a QA prompt tokenizes to nothing; give every question at least one token")
    gen = greedy_tokens(model, tokenizer, ids, max_new_tokens, batch_size)
    return [cut_at_stops(to_text(tokenizer, until_eos(g, tokenizer.eos_token_id))) for g in gen]


def knowmem_scores(answers: Sequence[str], generated: Sequence[str]) -> dict[str, list[float]]:
    """Per row: ``rouge_l`` (MUSE's KnowMem, F1) and ``rouge_l_recall`` (TOFU's ROUGE, recall, stemmed)."""
    return {
        "rouge_l": [rouge_l(a, g, MUSE_F1) for a, g in zip(answers, generated, strict=True)],
        "rouge_l_recall": [rouge_l(a, g, TOFU_RECALL) for a, g in zip(answers, generated, strict=True)],
    }
