"""Answer normalization and matching for generated answers (SQuAD-style).

Normalization follows the SQuAD v1.1 evaluation script (Rajpurkar et al. 2016): lowercase, drop
punctuation, drop the articles ``a``/``an``/``the``, collapse whitespace. A generation is compared
on its first line only.

Match rule (used by the native evaluator and by the lm-eval task configs alike): a generation
matches an answer when the normalized first line *equals* the normalized answer or *starts with*
it followed by a space (a word boundary: "paris france" matches "Paris", "parisian" does not).
An answer that normalizes to the empty string (e.g. the single letter "A", an article) is compared
after lowercasing and stripping punctuation only, so it can still be matched.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def _light(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lowercase, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def first_line(generation: str) -> str:
    """The generation up to its first newline, without surrounding whitespace."""
    return generation.lstrip(" \t").split("\n", 1)[0].strip()


def answer_match(generation: str, answers: Iterable[str]) -> bool:
    """Whether the first line of ``generation`` equals or starts with (at a word boundary) any answer."""
    line = first_line(generation)
    for ans in answers:
        norm_a = normalize_answer(ans)
        norm_g = normalize_answer(line)
        if not norm_a:
            norm_a, norm_g = _light(ans), _light(line)
            if not norm_a:
                continue
        if norm_g == norm_a or norm_g.startswith(norm_a + " "):
            return True
    return False
