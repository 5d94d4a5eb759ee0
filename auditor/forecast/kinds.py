"""The kinds of example a forecast scores, as a registry: plain texts and canaries.

* ``text`` (a text column): the first ``prefix_len`` text tokens (after a BOS, not counted) are the prompt,
  the next ``suffix_len`` the suffix greedy decoding must reproduce (``probes.extraction.items.token_items``,
  as ``auditor extract`` cuts them); texts too short for both are skipped and counted. NLL and EL2N are
  taken over the whole text (cut to the model's context).
* ``canary`` (prefix and secret columns, as the lab's ``canaries.jsonl``): the prompt is the prefix, the
  suffix is the secret's own tokens (``column_items``); NLL and EL2N are taken over prefix + secret, and
  the secret's exposure (Carlini et al. 2019, ``probes.extraction.exposure``) is added when it has digits.

A row is of the first kind (by ``priority``) whose columns it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import InputError
from auditor.forecast.config import ForecastConfig
from auditor.probes.extraction.config import ExposureConfig
from auditor.probes.extraction.exposure import DIGITS, canary_exposure
from auditor.probes.extraction.items import Item, column_items, require_columns, row_ids, row_repeats, token_items
from auditor.registry import Registry


@dataclass(frozen=True)
class Tokenized:
    """One kind's examples as token ids: what is decoded and compared, and what is scored for NLL / EL2N."""

    kind: str
    rows: tuple[dict, ...]  # the rows kept (too-short texts left out), in item order
    items: tuple[Item, ...]  # prompt ids and the suffix ids to reproduce
    seqs: tuple[tuple[int, ...], ...]  # the sequence scored for NLL and EL2N, per item
    skipped: int  # rows too short for prefix + suffix

    def same_tokens(self, other: Tokenized) -> str | None:
        """None when ``other`` holds the same token ids, else the id of the first example that differs."""
        for a, b, sa, sb in zip(self.items, other.items, self.seqs, other.seqs, strict=False):
            if a != b or sa != sb:
                return a.id
        if len(self.items) != len(other.items):
            return "(the number of examples long enough)"
        return None


Extra = Callable[[PreTrainedModel, PreTrainedTokenizerBase, Tokenized, ForecastConfig], list[dict]]


@dataclass(frozen=True)
class Kind:
    """A kind of example: the columns that mark it, how it is tokenized, and what it adds to each row."""

    name: str
    priority: int  # a row is of the first kind (lowest priority) whose columns it has
    columns: Callable[[ForecastConfig], tuple[str, ...]]
    tokenize: Callable[[PreTrainedTokenizerBase, list[dict], list[str], ForecastConfig], Tokenized]
    extra: Extra  # kind-specific fields per item (e.g. a canary's exposure)


KINDS: Registry[Kind] = Registry("example kind")


def _tokenize_text(tok: PreTrainedTokenizerBase, rows: list[dict], ids: list[str], cfg: ForecastConfig) -> Tokenized:
    texts = [r[cfg.text_column] for r in rows]
    reps = row_repeats(rows, cfg.repeats_column)
    items, short = token_items(tok, ids, texts, cfg.prefix_len, cfg.suffix_len, reps)
    kept = {it.id for it in items}
    full = tok(texts, add_special_tokens=True)["input_ids"]
    pairs = [(r, tuple(s)) for i, r, s in zip(ids, rows, full, strict=True) if i in kept]
    return Tokenized("text", tuple(r for r, _ in pairs), tuple(items), tuple(s for _, s in pairs), short)


def _tokenize_canary(tok: PreTrainedTokenizerBase, rows: list[dict], ids: list[str], cfg: ForecastConfig) -> Tokenized:
    reps = row_repeats(rows, cfg.repeats_column)
    prefixes = [r[cfg.prefix_column] for r in rows]
    items = column_items(tok, ids, prefixes, [r[cfg.secret_column] for r in rows], reps)
    empty = next((it.id for it in items if not it.prefix), None)
    if empty is not None:
        raise InputError(f"canary {empty!r}: the prefix is empty; every canary needs a prefix to decode from")
    return Tokenized("canary", tuple(rows), tuple(items), tuple(it.prefix + it.target for it in items), 0)


def _no_extra(model: PreTrainedModel, tok: PreTrainedTokenizerBase, t: Tokenized, cfg: ForecastConfig) -> list[dict]:
    return [{} for _ in t.items]


def _exposure(model: PreTrainedModel, tok: PreTrainedTokenizerBase, t: Tokenized, cfg: ForecastConfig) -> list[dict]:
    """Each canary's exposure in the space of its secret's digit strings (None without digits, or when off)."""
    xcfg = ExposureConfig(
        prefix_column=cfg.prefix_column, secret_column=cfg.secret_column, batch_size=cfg.batch_size, seed=cfg.seed
    )
    out = []
    for row, it in zip(t.rows, t.items, strict=True):
        secret = row[cfg.secret_column]
        if not cfg.exposure or not any(ch in DIGITS for ch in secret):
            out.append({"exposure": None})
            continue
        res = canary_exposure(model, tok, row[cfg.prefix_column], secret, xcfg, it.id)
        out.append({"exposure": res["exposure"], "rank": res.get("rank"), "space_size": res["space_size"]})
    return out


KINDS.register("canary")(Kind("canary", 0, lambda c: (c.prefix_column, c.secret_column), _tokenize_canary, _exposure))
KINDS.register("text")(Kind("text", 1, lambda c: (c.text_column,), _tokenize_text, _no_extra))


def group_rows(
    rows: Sequence[dict], cfg: ForecastConfig, source: str = "data"
) -> dict[str, tuple[list[dict], list[str]]]:
    """Rows (and their ids, unique over all rows) per kind name, in row order within each kind."""
    rows = list(rows)
    ids = row_ids(rows, cfg.id_column)
    kinds = sorted((KINDS.get(n) for n in KINDS), key=lambda k: k.priority)
    out: dict[str, tuple[list[dict], list[str]]] = {}
    for n, (row, i) in enumerate(zip(rows, ids, strict=True)):
        kind = next((k for k in kinds if all(c in row for c in k.columns(cfg))), None)
        if kind is None:
            wants = " or ".join("+".join(repr(c) for c in k.columns(cfg)) for k in kinds)
            raise InputError(
                f"{source}: row {n} has none of the columns {wants}; give plain texts or canaries, "
                "or name the columns with --text-column / --prefix-column / --secret-column"
            )
        out.setdefault(kind.name, ([], []))
        out[kind.name][0].append(row)
        out[kind.name][1].append(i)
    for name, (krows, _) in out.items():
        require_columns(krows, KINDS.get(name).columns(cfg), source, "every value must be text")
    return out


def tokenize_all(
    tok: PreTrainedTokenizerBase, groups: dict[str, tuple[list[dict], list[str]]], cfg: ForecastConfig
) -> dict[str, Tokenized]:
    """Every kind's examples tokenized with ``tok``."""
    return {name: KINDS.get(name).tokenize(tok, rows, ids, cfg) for name, (rows, ids) in groups.items()}
