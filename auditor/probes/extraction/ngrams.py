"""A hashed index of a corpus's token n-grams, to tell whether generated text is verbatim corpus text.

Every window of ``n`` consecutive tokens of every corpus document is hashed to 64 bits (a polynomial
rolling hash over the token ids, then the splitmix64 finalizer, vectorized in numpy) and kept in one
sorted array, with the document each hash first came from. A query text's windows are looked up with
a binary search. Hash collisions (two different n-grams, one 64-bit hash) have probability about
(#corpus n-grams) / 2^64 per query window: negligible for any corpus this tool will index.

Convention (Carlini et al. 2021, "Extracting training data from large language models", USENIX
Security, arXiv:2012.07805, who count a sample as memorized when it shares text with the training
data): a sample is *verbatim* if ANY of its n-token windows is in the index. A text shorter than
``n`` tokens has no window: a corpus document shorter than n adds nothing to the index, and a sample
shorter than n is reported as not verbatim (untargeted sampling always draws at least n tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BASE = np.uint64(0x100000001B3)  # an odd 64-bit multiplier (the FNV prime)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def window_hashes(tokens: Sequence[int], n: int) -> np.ndarray:
    """uint64 hash of every n-token window of ``tokens`` (empty if fewer than n tokens)."""
    a = np.asarray(tokens, dtype=np.uint64) + np.uint64(1)  # +1: token 0 still changes the hash
    if a.size < n:
        return np.empty(0, dtype=np.uint64)
    w = a.size - n + 1
    h = np.zeros(w, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * BASE + a[j : j + w]  # wraps mod 2^64
        h ^= h >> np.uint64(30)
        h *= _M1
        h ^= h >> np.uint64(27)
        h *= _M2
        h ^= h >> np.uint64(31)
    return h


@dataclass
class Lookup:
    """One query's result: windows checked and found, and the first corpus document a found window is from."""

    windows: int
    hits: int
    doc: str | None

    @property
    def verbatim(self) -> bool:
        return self.hits > 0

    @property
    def fraction(self) -> float:
        return self.hits / self.windows if self.windows else 0.0


class NgramIndex:
    """Sorted unique n-gram hashes of a tokenized corpus, with each hash's first document."""

    def __init__(self, hashes: np.ndarray, docs: np.ndarray, doc_ids: list[str], n: int) -> None:
        self.hashes, self.docs, self.doc_ids, self.n = hashes, docs, doc_ids, n

    @classmethod
    def build(cls, token_docs: Sequence[Sequence[int]], n: int, doc_ids: Sequence[str] | None = None) -> NgramIndex:
        ids = [str(i) for i in doc_ids] if doc_ids is not None else [str(i) for i in range(len(token_docs))]
        parts = [window_hashes(t, n) for t in token_docs]
        owners = [np.full(p.size, d, dtype=np.int64) for d, p in enumerate(parts)]
        allh = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        allo = np.concatenate(owners) if owners else np.empty(0, dtype=np.int64)
        order = np.lexsort((allo, allh))  # by hash, then by document: the first document wins
        allh, allo = allh[order], allo[order]
        first = np.r_[True, allh[1:] != allh[:-1]] if allh.size else np.empty(0, dtype=bool)
        return cls(allh[first], allo[first], ids, n)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def lookup(self, tokens: Sequence[int]) -> Lookup:
        q = window_hashes(tokens, self.n)
        if q.size == 0 or self.hashes.size == 0:
            return Lookup(windows=int(q.size), hits=0, doc=None)
        pos = np.searchsorted(self.hashes, q).clip(max=self.hashes.size - 1)
        found = self.hashes[pos] == q
        doc = self.doc_ids[int(self.docs[pos[found][0]])] if found.any() else None
        return Lookup(windows=int(q.size), hits=int(found.sum()), doc=doc)
