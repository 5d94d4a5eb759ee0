"""Real-world facts for real models, and fictional / counterfactual items that memory cannot answer.

Sources (shipped data, nothing downloaded):

* countries -> capital, currency, region, language: the PyPI package ``countryinfo`` (its JSON files);
  currency codes (ISO 4217) and language codes (ISO 639-1) are named with the PyPI package ``pycountry``;
* element -> chemical symbol: ``tasks/data/elements.json`` (118 elements, written from ``periodictable``).

Families, after Jin et al. 2024 ("The cost of down-scaling language models", ICLR 2024):

* ``fact_recall``: closed-book questions about real countries and elements, with few-shot demonstrations
  of the same relation;
* ``open_book``: the same questions about *made-up* countries and elements whose facts are stated in a
  context, so answering needs reading, not memory (knowledge loss is not counted as ICL loss);
* ``overriding``: a real question after a fluent counterfactual context ("In this story, the capital of
  France is Madrid."); the correct answer is the context's, which differs from every true answer.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace

from auditor.capability.normalize import normalize_answer
from auditor.capability.schema import TaskItem, sample_others
from auditor.errors import InputError
from auditor.tasks import tasks_dir

QUESTIONS: dict[str, str] = {
    "capital": "What is the capital of {x}?",
    "currency": "What is the currency of {x}?",
    "language": "What language is spoken in {x}?",
    "region": "In which region of the world is {x}?",
    "symbol": "What is the chemical symbol of {x}?",
}
_AMERICAS = ("America", "North America", "South America", "Central America", "Latin America", "Caribbean")
# ISO 4217 fund codes (accounting units, not what a country's currency is called)
_FUND_CODES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "USS", "UYI", "UYW", "XSU", "XUA"})
_FICTIONAL_VALUES = {"capital": (2, 3), "currency": (2, 2), "language": (2, 3)}


@dataclass(frozen=True)
class Fact:
    """A (subject, relation) pair with its accepted answers; ``answers[0]`` is the canonical one."""

    subject: str
    relation: str
    answers: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.relation}-{re.sub(r'[^a-z0-9]+', '_', self.subject.lower()).strip('_')}"


def _dedup(xs: list[str]) -> tuple[str, ...]:
    seen, out = set(), []
    for x in xs:
        k = normalize_answer(x)
        if x and k and k not in seen:
            seen.add(k)
            out.append(x)
    return tuple(out)


def country_facts() -> list[Fact]:
    """Capital, currency, region and language of every country in ``countryinfo`` that has them."""
    try:
        import pycountry
        from countryinfo import all_countries
    except ImportError as e:  # pragma: no cover - both are dependencies
        raise InputError(f"real-facts tasks need the packages countryinfo and pycountry ({e}); pip install them") from e
    out: list[Fact] = []
    for country in sorted(all_countries(), key=lambda c: c.info()["name"]):
        info = country.info()
        name = info.get("name")
        if not name or not info.get("capital") or not info.get("region"):
            continue
        demonym = info.get("demonym") or ""
        demonym = "" if "," in demonym else demonym
        capital = info["capital"] if isinstance(info["capital"], list) else [info["capital"]]
        out.append(Fact(name, "capital", _dedup([str(c) for c in capital])))
        cur: list[str] = []
        for code in info.get("currencies") or []:
            c = None if code in _FUND_CODES else pycountry.currencies.get(alpha_3=code)
            if c is None:  # a fund code, or a code pycountry no longer lists (e.g. a replaced currency)
                continue
            last = c.name.split()[-1]
            cur += [c.name, last] + ([f"{demonym} {last.lower()}"] if demonym else [])
            if "Sterling" in c.name:
                cur += ["pound", "British pound"]
        if cur:
            out.append(Fact(name, "currency", _dedup(cur)))
        langs: list[str] = []
        for code in info.get("languages") or []:
            lang = pycountry.languages.get(alpha_2=code)
            if lang is not None:
                langs.append(re.sub(r"\s*\(.*\)", "", lang.name))
        if langs:
            out.append(Fact(name, "language", _dedup(langs)))
        region = [info["region"], info.get("subregion") or ""]
        if info["region"] == "Americas":
            region += list(_AMERICAS)
        out.append(Fact(name, "region", _dedup(region)))
    return out


def element_facts() -> list[Fact]:
    """Element name -> chemical symbol for the 118 elements of ``tasks/data/elements.json``."""
    data = json.loads((tasks_dir() / "data" / "elements.json").read_text(encoding="utf-8"))
    return [Fact(e["name"], "symbol", (e["symbol"],)) for e in data["elements"]]


def real_facts() -> list[Fact]:
    return country_facts() + element_facts()


def _qa(subject: str, relation: str) -> str:
    return f"Q: {QUESTIONS[relation].format(x=subject)} A:"


def _with_demos(items: list[TaskItem], shots: int, seed: int, by_relation: bool) -> list[TaskItem]:
    """Each item with ``shots`` demonstrations: other items (of the same relation when ``by_relation``)."""
    pools: dict[str, list[TaskItem]] = {}
    for x in items:
        pools.setdefault(x.meta["relation"] if by_relation else "", []).append(x)
    where = {x.id: i for pool in pools.values() for i, x in enumerate(pool)}
    out = []
    for x in items:
        pool = pools[x.meta["relation"] if by_relation else ""]
        demos = tuple(f"{y.query} {y.answers[0].strip()}" for y in sample_others(pool, where[x.id], shots, seed, x.id))
        out.append(replace(x, demos=demos))
    return out


def fact_recall_items(facts: list[Fact], shots: int = 3, seed: int = 0) -> list[TaskItem]:
    """Closed-book QA, each question after ``shots`` demonstrations of the same relation."""
    items = [
        TaskItem(
            id=f"real-fact-{f.id}",
            family="fact_recall",
            query=_qa(f.subject, f.relation),
            answers=tuple(f" {a}" for a in f.answers),
            meta={"subject": f.subject, "relation": f.relation},
        )
        for f in facts
    ]
    return _with_demos(items, shots, seed, by_relation=True)


class _Names:
    """Made-up capitalised words, avoiding every name in ``taken`` (so no fictional name is real)."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng, self.used = rng, set(taken)

    def word(self, syllables: tuple[int, int]) -> str:
        while True:
            n = self.rng.randint(*syllables)
            w = "".join(self.rng.choice("bdfgklmnprstvz") + self.rng.choice("aeiou") for _ in range(n))
            w = (w + self.rng.choice(("", "n", "r", "s", "l", "ia", "or"))).capitalize()
            if normalize_answer(w) not in self.used:
                self.used.add(normalize_answer(w))
                return w


def _fictional_fact(names: _Names, rng: random.Random) -> tuple[str, str, str]:
    relation = rng.choice(("capital", "currency", "language", "symbol"))
    if relation == "symbol":
        element = names.word((2, 3)) + "ium"
        return element, relation, element[0] + rng.choice("abdeklmnorstuvz")
    return names.word((2, 3)), relation, names.word(_FICTIONAL_VALUES[relation])


def _statement(subject: str, relation: str, value: str) -> str:
    if relation == "symbol":
        return f"The chemical symbol of {subject} is {value}."
    if relation == "language":
        return f"The language spoken in {subject} is {value}."
    return f"The {relation} of {subject} is {value}."


def open_book_items(n: int, shots: int = 3, seed: int = 0, taken: set[str] | None = None) -> list[TaskItem]:
    """``n`` context-QA items about made-up countries and elements (sometimes beside a distractor fact)."""
    rng = random.Random(f"{seed}-open-book")
    names = _Names(rng, taken or set())
    items = []
    for i in range(n):
        subject, relation, value = _fictional_fact(names, rng)
        sentences = [_statement(subject, relation, value)]
        if rng.random() < 0.5:
            sentences.append(_statement(*_fictional_fact(names, rng)))
            rng.shuffle(sentences)
        items.append(
            TaskItem(
                id=f"real-open-{i:05d}",
                family="open_book",
                query=f"Context: {' '.join(sentences)} {_qa(subject, relation)}",
                answers=(f" {value}",),
                meta={"subject": subject, "relation": relation, "fictional": True},
            )
        )
    return _with_demos(items, shots, seed, by_relation=False)


def overriding_items(facts: list[Fact], shots: int = 3, seed: int = 0) -> list[TaskItem]:
    """A real question after a counterfactual context; the answer is the context's, never a true one."""
    rng = random.Random(f"{seed}-overriding")
    items = []
    for f in facts:
        if f.relation == "region":
            continue  # five values only: a counterfactual region reads as a trick question
        true = {normalize_answer(a) for a in f.answers}
        pool = [g.answers[0] for g in facts if g.relation == f.relation and normalize_answer(g.answers[0]) not in true]
        if not pool:
            continue
        value = rng.choice(sorted(set(pool)))
        stmt = _statement(f.subject, f.relation, value)
        context = "In this story, " + stmt[0].lower() + stmt[1:]
        items.append(
            TaskItem(
                id=f"real-override-{f.id}",
                family="overriding",
                query=f"Context: {context} {_qa(f.subject, f.relation)}",
                answers=(f" {value}",),
                memorized=tuple(f" {a}" for a in f.answers),
                meta={"subject": f.subject, "relation": f.relation},
            )
        )
    return _with_demos(items, shots, seed, by_relation=False)
