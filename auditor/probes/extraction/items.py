"""Turn texts (or prefix/suffix rows) into (prefix ids, target suffix ids) pairs to extract.

Two modes:

* **tokens** (default): a text is tokenized with the tokenizer's special tokens
  (``add_special_tokens=True``). Leading special tokens (a BOS) go in front of the prefix but are NOT
  counted: the prefix is the BOS (if any) plus the first ``prefix_len`` text tokens, the target the next
  ``suffix_len`` text tokens. Trailing special tokens (an appended EOS) are never part of the target.
  A text with fewer than ``prefix_len + suffix_len`` text tokens is skipped and counted.
* **columns**: a row carries its own prefix and suffix strings (the lab's canaries: ``prefix`` and
  ``secret``). The prefix is tokenized with special tokens, the suffix without, separately (so the
  target is exactly the suffix's own tokens, as ``auditor.lm.scoring.greedy_answer_match`` does).

Rows may carry a duplication count (``repeats``) for extraction-rate-by-count figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.tokenstats import model_context


@dataclass(frozen=True)
class Item:
    """One extraction attempt: decode ``len(target)`` tokens after ``prefix`` and compare with ``target``."""

    id: str
    prefix: tuple[int, ...]  # special lead tokens (BOS) + prefix text tokens
    target: tuple[int, ...]
    prefix_len: int  # prefix text tokens (lead tokens not counted)
    repeats: int | None = None


def as_rows(data: TextSet | Sequence[dict] | Sequence[str], source: str = "data") -> list[dict]:
    """Rows (dicts) from a TextSet, a list of dicts, or a list of strings (ids are row numbers)."""
    if isinstance(data, TextSet):
        return [{"id": i, "text": t} for i, t in zip(data.ids, data.texts, strict=True)]
    rows = list(data)
    if rows and isinstance(rows[0], str):
        return [{"id": str(n), "text": t} for n, t in enumerate(rows)]
    if not rows:
        raise InputError(f"{source}: the data set is empty; give at least one text")
    return [dict(r) for r in rows]


def require_columns(rows: list[dict], columns: Sequence[str], source: str, hint: str) -> None:
    """InputError naming the first missing column and listing the columns there are."""
    have = sorted({k for r in rows[:100] for k in r})
    for col in columns:
        missing = [n for n, r in enumerate(rows) if col not in r]
        if missing:
            raise InputError(f"{source}: row {missing[0]} has no column {col!r} (columns: {', '.join(have)}); {hint}")
        bad = [n for n, r in enumerate(rows) if not isinstance(r[col], str)]
        if bad:
            kind = type(rows[bad[0]][col]).__name__
            raise InputError(f"{source}: row {bad[0]} has a {kind} in column {col!r}, expected text")


def row_ids(rows: list[dict], id_column: str) -> list[str]:
    ids = [str(r.get(id_column, n)) for n, r in enumerate(rows)]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise InputError(f"duplicate id {dup!r} in column {id_column!r}; ids must be unique")
    return ids


def row_repeats(rows: list[dict], column: str | None) -> list[int | None]:
    if not column or not all(column in r for r in rows):
        return [None] * len(rows)
    try:
        return [int(r[column]) for r in rows]
    except (TypeError, ValueError) as e:
        raise InputError(f"column {column!r} must hold whole numbers (duplication counts): {e}") from e


def split_special(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """Per text: (leading special tokens, text tokens) from one tokenization with and one without specials."""
    with_sp = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    plain = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    out = []
    for w, p in zip(with_sp, plain, strict=True):
        lead = len(w) if not p else next((k for k in range(len(w) - len(p) + 1) if w[k : k + len(p)] == p), 0)
        out.append((list(w[:lead]), list(p)))
    return out


def check_context(model: PreTrainedModel, needed: int, what: str) -> None:
    ctx = model_context(model)
    if ctx is not None and needed > ctx:
        raise ConfigError(
            f"{what} needs {needed} tokens but the model's context is {ctx} (max_position_embeddings); "
            "use a shorter --prefix-len / --suffix-len"
        )


def token_items(
    tokenizer: PreTrainedTokenizerBase,
    ids: Sequence[str],
    texts: Sequence[str],
    prefix_len: int,
    suffix_len: int,
    repeats: Sequence[int | None] | None = None,
) -> tuple[list[Item], int]:
    """Items cut at ``prefix_len`` text tokens, and how many texts were too short to cut."""
    if prefix_len < 1 or suffix_len < 1:
        raise ConfigError(f"prefix_len and suffix_len must be at least 1, got {prefix_len} and {suffix_len}")
    reps = repeats or [None] * len(texts)
    items, short = [], 0
    for i, (lead, toks), r in zip(ids, split_special(tokenizer, texts), reps, strict=True):
        if len(toks) < prefix_len + suffix_len:
            short += 1
            continue
        prefix = tuple(lead + toks[:prefix_len])
        target = tuple(toks[prefix_len : prefix_len + suffix_len])
        items.append(Item(id=i, prefix=prefix, target=target, prefix_len=prefix_len, repeats=r))
    return items, short


def column_items(
    tokenizer: PreTrainedTokenizerBase,
    ids: Sequence[str],
    prefixes: Sequence[str],
    suffixes: Sequence[str],
    repeats: Sequence[int | None] | None = None,
) -> list[Item]:
    """Items from explicit prefix and suffix strings (the suffix is tokenized on its own)."""
    reps = repeats or [None] * len(prefixes)
    split = split_special(tokenizer, prefixes)
    targets = tokenizer(list(suffixes), add_special_tokens=False)["input_ids"]
    items = []
    for i, (lead, toks), t, r in zip(ids, split, targets, reps, strict=True):
        if not t:
            raise InputError(f"row {i!r}: the suffix is empty; every row needs a non-empty suffix to extract")
        items.append(Item(id=i, prefix=tuple(lead + toks), target=tuple(t), prefix_len=len(toks), repeats=r))
    return items
