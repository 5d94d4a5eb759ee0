"""How well a generated suffix matches the true one: pure functions of two token-id sequences.

* ``exact``: the generation equals the target (Carlini et al. 2023, "Quantifying memorization across
  neural language models", arXiv:2202.07646: a string is k-extractable if greedy decoding from its
  k-token prefix reproduces it);
* ``token_match``: the fraction of positions ``i`` with ``generated[i] == target[i]`` (the
  memorization score of Biderman et al. 2023, "Emergent and predictable memorization in large
  language models", arXiv:2304.11158);
* ``matched_prefix``: how many leading tokens agree before the first mismatch;
* ``longest_run``: the longest contiguous token run the two share at ANY alignment (longest common
  substring), so a suffix reproduced one token late still counts;
* ``similarity``: 1 - Levenshtein(generated, target) / max(len) on tokens, and ``bleu``: BLEU-4 on
  tokens; both measure approximate memorization (Ippolito et al. 2023, "Preventing generation of
  verbatim memorization in language models gives a false sense of privacy", arXiv:2210.17546).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def exact(generated: Sequence[int], target: Sequence[int]) -> bool:
    return list(generated) == list(target)


def token_match(generated: Sequence[int], target: Sequence[int]) -> float:
    """Fraction of the target's positions where the generation has the same token."""
    if not target:
        return 0.0
    return sum(1 for a, b in zip(generated, target, strict=False) if a == b) / len(target)


def matched_prefix(generated: Sequence[int], target: Sequence[int]) -> int:
    n = 0
    for a, b in zip(generated, target, strict=False):
        if a != b:
            break
        n += 1
    return n


def longest_run(generated: Sequence[int], target: Sequence[int]) -> int:
    """Length of the longest common contiguous run (longest common substring), by dynamic programming."""
    best = 0
    prev = [0] * (len(target) + 1)
    for a in generated:
        cur = [0] * (len(target) + 1)
        for j, b in enumerate(target, 1):
            if a == b:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def similarity(generated: Sequence[int], target: Sequence[int]) -> float:
    """1 - edit distance / the longer length (= 1 - lev/m when both have m tokens); 1.0 for two empties."""
    m = max(len(generated), len(target))
    return 1.0 if m == 0 else 1.0 - levenshtein(generated, target) / m


def _ngrams(x: Sequence[int], n: int) -> Counter:
    return Counter(tuple(x[i : i + n]) for i in range(len(x) - n + 1))


def bleu(generated: Sequence[int], target: Sequence[int], max_n: int = 4) -> float:
    """Sentence BLEU-``max_n`` of ``generated`` against one reference, with add-one smoothing.

    Papineni et al. 2002: geometric mean of clipped n-gram precisions p_1..p_N (uniform weights)
    times the brevity penalty min(1, exp(1 - r/c)). Smoothing: Lin and Och 2004 add-one for n >= 2,
    p_n = (matches + 1) / (candidate n-grams + 1), so a short miss does not zero the score; p_1 is not
    smoothed, and no unigram match scores 0 (as does an empty candidate or reference). A candidate
    shorter than n has no n-grams; its count is taken as 1, so p_n = (0 + 1) / (1 + 1) = 1/2.

    Equal (to float rounding) to NLTK's ``sentence_bleu([target], generated, weights=(1/max_n,) * max_n,
    smoothing_function=SmoothingFunction().method2)`` for every length, short candidates included
    (NLTK's ``modified_precision`` counts max(1, n-grams)); tests/test_bleu_parity.py checks it. Not
    NLTK's unsmoothed default (``method0``): p_n = matches / n-grams there, and about 0 when any order
    has no match.
    """
    c, r = len(generated), len(target)
    if c == 0 or r == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        cand, ref = _ngrams(generated, n), _ngrams(target, n)
        matches = sum(min(k, ref[g]) for g, k in cand.items())
        total = max(1, c - n + 1)  # NLTK's denominator: at least 1
        if n == 1:
            if matches == 0:
                return 0.0
            p = matches / total
        else:
            p = (matches + 1) / (total + 1)
        log_p += math.log(p) / max_n
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(log_p)


def match_metrics(generated: Sequence[int], target: Sequence[int]) -> dict:
    """Every metric above for one (generated, target) pair."""
    return {
        "exact": exact(generated, target),
        "token_match": token_match(generated, target),
        "matched_prefix": matched_prefix(generated, target),
        "longest_run": longest_run(generated, target),
        "similarity": similarity(generated, target),
        "bleu": bleu(generated, target),
    }
