"""The extraction family's checks that need the tokenizer but not the model, made before the model loads.

The probe skips a text with fewer than ``prefix_len + suffix_len`` text tokens (:func:`items.token_items`;
leading special tokens such as a BOS are not counted) and stops when no text is left
(:func:`discoverable.raise_all_short`), but only after the model has loaded. The same rule applied here with
the checkpoint's tokenizer, loaded alone, stops such an audit in a second, naming the config keys to change.
A few short texts do not stop it: the probe skips them and records how many.

The canaries' rows (greedy extraction of each secret from its prefix) are checked the same way: the
``prefix`` and ``secret`` columns present, and every secret at least one token long.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from transformers import PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.probes.extraction.items import column_items, require_columns, row_ids, split_special

if TYPE_CHECKING:
    from auditor.probes.extraction.family import ExtractionData

CANARY_COLUMNS = ("prefix", "secret")


def check_extraction(data: ExtractionData, tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise :class:`InputError` (one line) when no text is long enough to extract, or a canary row is unusable."""
    check_lengths(data.texts.texts, data.texts.source, min(data.config.sweep()), data.config.suffix_len, tokenizer)
    if data.canaries:
        check_canaries(data.canaries, tokenizer)


def check_lengths(
    texts: Sequence[str], source: str, prefix_len: int, suffix_len: int, tokenizer: PreTrainedTokenizerBase
) -> None:
    """Stop unless at least one text has ``prefix_len + suffix_len`` text tokens (``prefix_len``: the smallest
    swept), the rule by which the probe keeps a text."""
    lengths = [len(toks) for _, toks in split_special(tokenizer, list(texts))]
    need = prefix_len + suffix_len
    if any(n >= need for n in lengths):
        return
    raise InputError(
        f"extraction: none of the {len(lengths)} texts of {source} is long enough for prefix_lens ({prefix_len}) "
        f"+ suffix_len ({suffix_len}) = {need} tokens (the longest has {max(lengths, default=0)}); "
        "lower extraction.prefix_lens / extraction.suffix_len or give longer texts"
    )


def check_canaries(rows: list[dict], tokenizer: PreTrainedTokenizerBase) -> None:
    """The canary rows the extraction family decodes from: both columns there, unique ids, no empty secret."""
    source = "extraction canaries (exposure.canaries)"
    require_columns(rows, CANARY_COLUMNS, source, "each canary row needs a prefix and a secret")
    ids = row_ids(rows, "id")
    column_items(tokenizer, ids, [r["prefix"] for r in rows], [r["secret"] for r in rows])
