"""Count how often each data row's span occurs in a training corpus, streaming the corpus (``auditor dupcount``).

Memorization grows with duplication: Kandpal et al. 2022 ("Deduplicating training data mitigates privacy
risks in language models", ICML, arXiv:2202.06539) and Carlini et al. 2023 ("Quantifying memorization
across neural language models", ICLR, arXiv:2202.07646) count how many times each sequence occurs in the
training data and report extraction by that count. This module computes that count without a model:

* **tokens**: words and punctuation marks (runs of ``\\w`` characters, and single other non-space
  characters; Unicode-aware, case kept). Whitespace only separates tokens, so a span matches whatever the
  spacing, and only on token boundaries ("37" does not occur in "3721"; "is 3721" occurs in "is 3721.").
* **count**: the number of corpus positions where the span's whole token sequence starts, overlapping
  occurrences included ("a a" occurs twice in "a a a"). A document is the unit: no occurrence crosses two
  documents. A span with no tokens (or with a NUL character, which marks document breaks) counts 0.
* **method**: pass 1 (:class:`SpanIndex`) keeps the distinct spans as token ids, keyed by a 64-bit
  polynomial hash of their first ``min(ngram, length)`` tokens (a token's value is blake2b of its UTF-8
  bytes, so hashes are the same in every process). Pass 2 streams the corpus: :class:`Scanner` skips, untokenized,
  each document that lacks every span's longest token (it cannot hold a span), and tokenizes the rest (a
  token outside the spans' vocabulary becomes id 0, which matches nothing); :class:`ChunkCounter` hashes
  every window of each anchor length of ``chunk_tokens`` ids at once in numpy (prefix sums of x_k B^k,
  normalized by B^-j) and compares each window whose hash is an anchor with the whole span, token by
  token: counts are exact (a hash collision costs time, never a wrong count). The last ``longest span - 1``
  ids of a chunk are carried into the next one, so an occurrence across a chunk boundary inside a
  document is counted once. Memory: the spans plus one chunk, never the corpus.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.errors import ConfigError
from auditor.inputs.corpus_stream import Piece

TOKEN = re.compile(r"\w+|[^\w\s]")
SEP = "\x00"  # put before each document of a tokenized batch: a token of its own, in no span's vocabulary
BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2^64
BASE_INV = pow(BASE, -1, 1 << 64)
_MASK = (1 << 64) - 1
PREFILTER_KEYS = 64  # above this many distinct keys the prefilter's regex costs more than it saves
VERIFY_CELLS = 1 << 22  # token comparisons per vectorized verification step (memory bound)


@dataclass(frozen=True)
class DupcountConfig:
    """Settings of the duplication count; ``ngram`` and the chunk sizes change speed and memory, never a count."""

    ngram: int = 8  # anchor: spans are looked up by the hash of their first min(ngram, length) tokens
    chunk_tokens: int = 1 << 20  # corpus tokens hashed per numpy pass (about 100 bytes each)
    block_chars: int = 1 << 20  # corpus characters tokenized (and, for TXT, read) at a time
    text_column: str = "text"  # the corpus files' text column (TXT: each line is a document)

    def validate(self) -> None:
        for name in ("ngram", "chunk_tokens", "block_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


@dataclass
class CorpusStats:
    """What the corpus scan read."""

    files: int = 0
    docs: int = 0
    chars: int = 0
    tokenized_docs: int = 0  # documents that could hold a span (the rest were skipped untokenized)
    tokens: int = 0  # tokens of those documents


def tokens(text: str) -> list[str]:
    """The model-free tokens counted on (words and punctuation marks; see the module doc)."""
    return TOKEN.findall(text)


def token_value(token: str) -> int:
    """A token's stable 64-bit value (blake2b; odd, so never the 0 of the tokens no span has)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little") | 1


def anchor_hash(values: Sequence[int]) -> int:
    """sum_k values[k] * BASE^k mod 2^64: what :meth:`ChunkCounter._count` computes for every window."""
    h, p = 0, 1
    for v in values:
        h, p = (h + v * p) & _MASK, (p * BASE) & _MASK
    return h


class SpanIndex:
    """Pass 1: the distinct spans as token ids, grouped by anchor length and sorted by anchor hash."""

    def __init__(self, spans: Sequence[str], ngram: int) -> None:
        self.vocab: dict[str, int] = {}
        distinct: dict[tuple[int, ...], int] = {}
        self.span_of: list[int] = []  # per input span: its distinct span's index; -1: no tokens, or a NUL
        keys: set[str] = set()  # each span's longest token: a document with none of them holds no span
        for text in spans:
            toks = tokens(text)
            if not toks or SEP in toks:
                self.span_of.append(-1)
                continue
            ids = tuple(self.vocab.setdefault(t, len(self.vocab) + 1) for t in toks)
            self.span_of.append(distinct.setdefault(ids, len(distinct)))
            keys.add(max(toks, key=len))
        values = [0] + [token_value(t) for t in self.vocab]  # id 0: a token no span has, or a document break
        self.values = np.asarray(values, dtype=np.uint64)
        self.lengths = np.asarray([len(s) for s in distinct], dtype=np.int64)
        self.longest = int(self.lengths.max(initial=0))
        by_length: dict[int, list[tuple[int, ...]]] = {}
        self.row_of = np.zeros(len(distinct), dtype=np.int64)  # distinct span -> its row in rows[its length]
        for k, s in enumerate(distinct):
            same = by_length.setdefault(len(s), [])
            self.row_of[k] = len(same)
            same.append(s)
        self.rows = {n: np.asarray(same, dtype=np.int64) for n, same in by_length.items()}
        by_anchor: dict[int, dict[int, list[int]]] = {}
        for k, s in enumerate(distinct):
            a = min(ngram, len(s))
            by_anchor.setdefault(a, {}).setdefault(anchor_hash([values[i] for i in s[:a]]), []).append(k)
        self.groups = {a: _flat(table) for a, table in by_anchor.items()}  # a -> (hashes, offsets, spans)
        few = len(keys) <= PREFILTER_KEYS
        self.prefilter = re.compile("|".join(map(re.escape, sorted(keys)))) if few else None

    def __len__(self) -> int:
        return len(self.lengths)

    def may_contain(self, document: str) -> bool:
        """False only when no span can occur in ``document`` (it lacks every span's longest token)."""
        return len(self) > 0 and (self.prefilter is None or self.prefilter.search(document) is not None)

    def ids(self, text: str) -> list[int]:
        get = self.vocab.get
        return [get(t, 0) for t in TOKEN.findall(text)]


def _flat(table: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted anchor hashes; the spans of hashes[i] are spans[offsets[i]:offsets[i + 1]]."""
    hashes = sorted(table)
    offsets = np.cumsum([0] + [len(table[h]) for h in hashes])
    spans = np.asarray([k for h in hashes for k in table[h]], dtype=np.int64)
    return np.asarray(hashes, dtype=np.uint64), offsets, spans


class ChunkCounter:
    """Token ids in (id 0 between documents), exact counts per distinct span out, ``chunk_tokens`` ids at a time."""

    def __init__(self, index: SpanIndex, chunk_tokens: int) -> None:
        self.index, self.chunk_tokens = index, chunk_tokens
        self.counts = np.zeros(len(index), dtype=np.int64)
        self._buf: list[int] = []
        self._carry = 0  # leading ids of the buffer: the previous chunk's tail, already scanned
        self._powers = np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)

    def add(self, ids: list[int]) -> None:
        pos = 0
        while True:
            if len(self._buf) - self._carry >= self.chunk_tokens:
                self._flush()
            if pos >= len(ids):
                return
            room = self.chunk_tokens - (len(self._buf) - self._carry)
            self._buf.extend(ids[pos : pos + room])
            pos += room

    def finish(self) -> list[int]:
        if len(self._buf) > self._carry:
            self._flush()
        return self.counts.tolist()

    def _flush(self) -> None:
        arr = np.asarray(self._buf, dtype=np.int64)
        self._count(arr, self._carry)
        keep = min(len(arr), max(self.index.longest - 1, 0))  # an occurrence cut by the chunk's end lies in here
        self._buf = self._buf[len(self._buf) - keep :] if keep else []
        self._carry = keep

    def _pows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """BASE^k and BASE^-k for k < n (mod 2^64: uint64 arithmetic wraps)."""
        if len(self._powers[0]) < n:
            pows = []
            for b in (BASE, BASE_INV):
                p = np.full(n, b, dtype=np.uint64)
                p[0] = 1
                with np.errstate(over="ignore"):
                    pows.append(np.cumprod(p, dtype=np.uint64))
            self._powers = pows[0], pows[1]
        return self._powers[0][:n], self._powers[1][:n]

    def _count(self, arr: np.ndarray, carry: int) -> None:
        """Count the occurrences in ``arr`` that end after its first ``carry`` ids (the others were counted)."""
        n = len(arr)
        pw, inv = self._pows(n)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(self.index.values[arr] * pw, out=prefix[1:])
            for a, (hashes, offsets, spans) in self.index.groups.items():
                if a > n:
                    continue
                h = (prefix[a:] - prefix[:-a]) * inv[: n - a + 1]  # the window at j, normalized by BASE^-j
                at = np.minimum(np.searchsorted(hashes, h), len(hashes) - 1)
                hit = np.flatnonzero(hashes[at] == h)
                if not hit.size:
                    continue
                first, many = offsets[at[hit]], offsets[at[hit] + 1] - offsets[at[hit]]
                starts = np.repeat(hit, many)  # one (start, span) pair per span with that anchor
                pick = np.repeat(first - np.cumsum(many) + many, many) + np.arange(int(many.sum()))
                self._verify(arr, carry, starts, spans[pick])

    def _verify(self, arr: np.ndarray, carry: int, starts: np.ndarray, ks: np.ndarray) -> None:
        """Add 1 to span ks[i] where it occurs whole at starts[i] and ends in this chunk's new ids."""
        lengths = self.index.lengths[ks]
        ends = starts + lengths
        ok = (ends > carry) & (ends <= len(arr))
        starts, ks, lengths = starts[ok], ks[ok], lengths[ok]
        for n in np.unique(lengths).tolist():
            js, kk = starts[lengths == n], ks[lengths == n]
            step = max(1, VERIFY_CELLS // n)
            for i in range(0, len(js), step):
                window = arr[js[i : i + step, None] + np.arange(n)]
                same = (window == self.index.rows[n][self.index.row_of[kk[i : i + step]]]).all(axis=1)
                np.add.at(self.counts, kk[i : i + step][same], 1)


class Scanner:
    """Pass 2's front: corpus pieces in; whole documents that cannot hold a span are skipped untokenized, the
    rest tokenized in batches of about ``block_chars`` characters (a NUL before each document: its id is 0)."""

    def __init__(self, index: SpanIndex, cfg: DupcountConfig) -> None:
        self.index, self.block_chars = index, cfg.block_chars
        self.counter = ChunkCounter(index, cfg.chunk_tokens)
        self.stats = CorpusStats()
        self._pending: str | None = None  # a document's first piece, until the next piece shows it is whole
        self._batch: list[str] = []
        self._batch_chars = self._batch_docs = 0

    def feed(self, new_doc: bool, text: str) -> None:
        self.stats.docs += new_doc
        self.stats.chars += len(text)
        if new_doc:
            self._settle()
            self._pending = text
            return
        if self._pending is not None:  # the document goes on: too long to prefilter, tokenize it all
            self._queue(self._pending, True)
            self._pending = None
        self._queue(text, False)

    def finish(self) -> list[int]:
        self._settle()
        self._tokenize()
        return self.counter.finish()

    def _settle(self) -> None:
        if self._pending is not None and self.index.may_contain(self._pending):
            self._queue(self._pending, True)
        self._pending = None

    def _queue(self, text: str, new_doc: bool) -> None:
        self._batch.append(SEP + text if new_doc else text)  # a document's pieces meet at whitespace
        self._batch_chars += len(text)
        self._batch_docs += new_doc
        if self._batch_chars >= self.block_chars:
            self._tokenize()

    def _tokenize(self) -> None:
        ids = self.index.ids("".join(self._batch))
        self.stats.tokenized_docs += self._batch_docs
        self.stats.tokens += len(ids) - self._batch_docs
        self.counter.add(ids)
        self._batch, self._batch_chars, self._batch_docs = [], 0, 0


def count_spans(spans: Sequence[str], pieces: Iterable[Piece], cfg: DupcountConfig) -> tuple[list[int], CorpusStats]:
    """Occurrences of each span in the corpus ``pieces`` (see the module doc), and what was scanned.

    ``pieces`` is streamed once; a document may come in several pieces, cut at whitespace.
    """
    cfg.validate()
    index = SpanIndex(spans, cfg.ngram)
    scanner = Scanner(index, cfg)
    for new_doc, text in pieces:
        scanner.feed(new_doc, text)
    counts = scanner.finish()
    return [counts[k] if k >= 0 else 0 for k in index.span_of], scanner.stats
