"""BLEU (auditor.probes.extraction.match.bleu) against NLTK's sentence_bleu with add-one smoothing (method2).

NLTK comes with the test environment (lm-eval -> rouge_score -> nltk). Lengths 0 to 9 on a 3-token alphabet,
so candidates shorter than the n-gram order, no matches at some orders and clipping all occur.
"""

from __future__ import annotations

import math
import random
import warnings

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from auditor.probes.extraction.match import bleu


def _nltk(generated: list[int], target: list[int], max_n: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns on empty hypotheses
        return float(
            sentence_bleu(
                [target], generated, weights=(1 / max_n,) * max_n, smoothing_function=SmoothingFunction().method2
            )
        )


@pytest.mark.parametrize("max_n", [1, 2, 3, 4])
def test_bleu_equals_nltk_method2_at_every_length(max_n):
    rng = random.Random(max_n)

    def seq() -> list[int]:
        return [rng.randrange(3) for _ in range(rng.randrange(10))]

    pairs = [(seq(), seq()) for _ in range(600)]
    pairs += [([1, 2, 3], [1, 2, 3, 4]), ([1], [1]), ([5, 6], [5, 6]), ([1, 2, 3], [1, 2, 3])]
    for generated, target in pairs:
        assert bleu(generated, target, max_n=max_n) == pytest.approx(_nltk(generated, target, max_n), rel=1e-12, abs=0)


def test_short_candidates_are_smoothed_like_nltk():
    # 3 tokens, all matching, reference 4 tokens: p1..p3 = 1, p4 = (0 + 1) / (1 + 1); BP = exp(1 - 4/3)
    want = 0.5**0.25 * math.exp(1 - 4 / 3)
    assert bleu([1, 2, 3], [1, 2, 3, 4]) == pytest.approx(want)
    assert bleu([1, 2, 3], [1, 2, 3, 4]) == pytest.approx(_nltk([1, 2, 3], [1, 2, 3, 4], 4))
    assert bleu([1, 2, 3], [1, 2, 3]) < 1.0  # a short exact copy is not BLEU 1, as in NLTK
