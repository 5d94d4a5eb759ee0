"""The extraction family's checks that need the tokenizer but not the model, made before the model loads.

The probe skips a text with fewer than ``prefix_len + suffix_len`` text tokens (:func:`items.token_items`;
leading special tokens such as a BOS are not counted) and stops when no text is left
(:func:`discoverable.raise_all_short`), but only after the model has loaded. The same rule applied here with
the checkpoint's tokenizer, loaded alone, stops such an audit (or ``auditor extract``) in a second, naming the
settings to change: the YAML keys (``extraction.prefix_lens``) or the flags (``--prefix-lens``). A few short
texts do not stop it: the probe skips them and records how many.

In column mode (``prefix_column`` / ``suffix_column``) both columns must be there and every suffix at least one
token long. The canaries' rows (greedy extraction of each secret from its prefix) are checked the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from transformers import PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.inputs.data import TextSet
from auditor.probes.extraction.config import ExtractionConfig
from auditor.probes.extraction.items import as_rows, column_items, require_columns, row_ids, split_special

if TYPE_CHECKING:
    from auditor.probes.extraction.data import ExtractionData

CANARY_COLUMNS = ("prefix", "secret")


def setting(name: str, flags: bool) -> str:
    """A config key as the user wrote it: ``--prefix-lens`` (flags) or ``extraction.prefix_lens`` (YAML)."""
    return "--" + name.replace("_", "-") if flags else f"extraction.{name}"


def check_extraction(data: ExtractionData, tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise :class:`InputError` (one line) when no text is long enough to extract, a column the config names is
    missing, or a canary row is unusable."""
    cfg = data.config.resolved()
    source = data.texts.source if isinstance(data.texts, TextSet) else data.source
    rows = as_rows(data.texts, source)
    if cfg.column_mode:
        check_column_rows(rows, cfg, source, tokenizer, data.flags)
    else:
        hint = f"name the text column ({setting('text_column', data.flags)})"
        require_columns(rows, (cfg.text_column,), source, hint)
        texts = [r[cfg.text_column] for r in rows]
        check_lengths(texts, source, min(cfg.sweep()), cfg.suffix_len or 0, tokenizer, data.flags)
    if data.canaries:
        check_canaries(data.canaries, tokenizer)


def check_column_rows(
    rows: list[dict], cfg: ExtractionConfig, source: str, tokenizer: PreTrainedTokenizerBase, flags: bool
) -> None:
    """Column mode: the prefix and suffix columns there, unique ids, no empty suffix."""
    cols = (str(cfg.prefix_column), str(cfg.suffix_column))
    names = f"{setting('prefix_column', flags)} / {setting('suffix_column', flags)}"
    require_columns(rows, cols, source, f"name the prefix and suffix columns ({names})")
    ids = row_ids(rows, cfg.id_column)
    column_items(tokenizer, ids, [r[cols[0]] for r in rows], [r[cols[1]] for r in rows])


def check_lengths(
    texts: Sequence[str],
    source: str,
    prefix_len: int,
    suffix_len: int,
    tokenizer: PreTrainedTokenizerBase,
    flags: bool = False,
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
        f"lower {setting('prefix_lens', flags)} / {setting('suffix_len', flags)} or give longer texts"
    )


def check_canaries(rows: list[dict], tokenizer: PreTrainedTokenizerBase) -> None:
    """The canary rows the extraction family decodes from: both columns there, unique ids, no empty secret."""
    source = "extraction canaries (exposure.canaries)"
    require_columns(rows, CANARY_COLUMNS, source, "each canary row needs a prefix and a secret")
    ids = row_ids(rows, "id")
    column_items(tokenizer, ids, [r["prefix"] for r in rows], [r["secret"] for r in rows])
