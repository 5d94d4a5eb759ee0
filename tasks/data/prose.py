"""Seeded random prose from word lists: grammatical, fluent-looking text no model can have seen.

The novel pool's generated half (``tasks/data/novel/generated-*.txt``), written by
``build_public_sets.py --refresh``: a licence-like register (numbered sections, "shall ... provided that")
and an expository/narrative one, each deterministic given its seed.
"""

from __future__ import annotations

import random
import textwrap

# ---------------------------------------------------------------------------------------------------------------
# the novel pool, (b): seeded random prose from word lists (grammatical, fluent-looking, never seen)

# fmt: off
FIRST = ["Maren", "Tobias", "Ilse", "Dario", "Wenna", "Oskar", "Priya", "Lukas", "Nadia", "Elias", "Runa", "Felix",
         "Amara", "Joren", "Sefa", "Hollis", "Tamsin", "Bram", "Odile", "Kasimir"]
LAST = ["Vell", "Ashcombe", "Tarrow", "Quennell", "Brisk", "Ollander", "Mereth", "Dunmore", "Calloway", "Pryce",
        "Hesketh", "Lindqvist", "Fairweather", "Okonjo", "Varga", "Stroud"]
PLACE = ["the harbour town", "the upper valley", "the old mill district", "the river delta", "the hill villages",
         "the northern quarter", "the salt marshes", "the market square", "the orchard estate", "the mountain pass"]
ADJ = ["quiet", "narrow", "weathered", "careful", "bright", "patient", "heavy", "unusual", "modest", "crowded",
       "sudden", "steady", "faded", "generous", "stubborn", "hollow", "gentle", "distant", "restless", "ordinary"]
NOUN = ["ledger", "lantern", "bridge", "workshop", "harvest accounts", "letter", "garden wall", "ferry", "archive",
        "kiln", "orchard fence", "survey map", "festival programme", "bell tower", "timber yard", "weather station",
        "choir loft", "schoolhouse roof", "granary", "tide table", "parish register", "sea wall", "well pump",
        "copper still", "town clock", "boundary stones"]
PERSON = ["the surveyor", "the ferryman", "the baker", "the clockmaker", "the apprentice", "the archivist",
          "the schoolteacher", "the harbour master", "the weaver", "the stonemason", "the young doctor"]
VERB_T = ["repaired", "measured", "recorded", "painted", "carried", "studied", "rebuilt", "questioned", "sold",
          "borrowed", "described", "mapped", "guarded", "copied", "replaced", "inspected"]
VERB_I = ["waited", "argued", "laughed", "travelled", "hesitated", "worked late", "walked home", "listened",
          "returned", "stayed behind", "kept counting", "wrote back"]
ADV = ["slowly", "quietly", "at once", "without complaint", "before dawn", "in the end", "every autumn",
       "for a long time", "more than once", "with some reluctance", "by lamplight", "almost daily"]
TIME = ["in the spring of that year", "after the long winter", "on the first market day", "before the floods came",
        "during the harvest", "late one evening", "when the roads reopened", "in the weeks that followed"]
REASON = ["the roof had begun to leak", "nobody else remembered the old route", "the river had changed its course",
          "the council had lost the original plans", "the price of grain had doubled", "the bell had cracked",
          "the letters were written in an older hand", "the ferry no longer ran after dark",
          "the wells had run dry in August", "a storm had taken half the pier",
          "the old survey disagreed with the new one", "the school had closed its doors",
          "the orchard had been sold twice", "the last ferryman had retired", "two families claimed the same field",
          "the clock ran eleven minutes slow"]
PARTY = ["the Contributor", "the Recipient", "the Distributor", "the Licensor", "the Operator", "the Maintainer",
         "the Steward", "each Participant", "the Holder", "the Publisher"]
THING = ["Covered Material", "the Derived Collection", "any Annotated Work", "the Reference Edition",
         "the Supplementary Notices", "any Modified Rendering", "the Source Bundle", "the Attribution Record",
         "any Translated Portion", "the Accompanying Schedule"]
LVERB = ["reproduce", "annotate", "catalogue", "transmit", "withdraw", "publish", "amend", "archive", "restate",
         "disclose", "relabel", "bundle"]
COND = ["the notice described in Section {n} is preserved", "written consent has been obtained in advance",
        "no additional restrictions are imposed on later holders", "the original markings remain legible",
        "the change is recorded in the Attribution Record", "the terms of this Charter are supplied in full",
        "the Recipient is informed within {d} days", "no fee is charged beyond the cost of copying"]
DOC = ["Charter", "Covenant", "Schedule", "Agreement of Stewardship"]
HEAD = ["Scope of the Charter", "Duties of the Steward", "Annotations and Records", "Withdrawal of Consent",
        "Transfer to Later Holders", "Notices and Markings", "Limits of Responsibility", "Duration and Renewal",
        "Disputes Between Participants", "Translations", "Fees and Costs", "Severability of Terms"]
# fmt: on


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _expository_sentence(r: random.Random) -> str:
    name = f"{r.choice(FIRST)} {r.choice(LAST)}"
    forms = [
        lambda: (
            f"{_cap(r.choice(TIME))}, {r.choice(PERSON)} {r.choice(VERB_T)} the {r.choice(ADJ)} "
            f"{r.choice(NOUN)} in {r.choice(PLACE)}."
        ),
        lambda: f"{name} {r.choice(VERB_T)} the {r.choice(NOUN)} {r.choice(ADV)}, because {r.choice(REASON)}.",
        lambda: (
            f"When {r.choice(PERSON)} {r.choice(VERB_I)}, {name} {r.choice(VERB_T)} the {r.choice(ADJ)} "
            f"{r.choice(NOUN)} instead."
        ),
        lambda: (
            f"Nobody in {r.choice(PLACE)} could say why {r.choice(REASON)}, so {r.choice(PERSON)} "
            f"{r.choice(VERB_I)} {r.choice(ADV)}."
        ),
        lambda: (
            f"The {r.choice(ADJ)} {r.choice(NOUN)} was {r.choice(VERB_T)} twice {r.choice(TIME)}, "
            f"and {r.choice(PERSON)} {r.choice(VERB_I)}."
        ),
        lambda: f"It was {name} who first noticed that {r.choice(REASON)}.",
        lambda: (
            f"For {r.choice(['two', 'three', 'five', 'eleven', 'forty'])} years {r.choice(PERSON)} "
            f"{r.choice(VERB_T)} the {r.choice(NOUN)} of {r.choice(PLACE)} and {r.choice(VERB_I)} {r.choice(ADV)}."
        ),
    ]
    return r.choice(forms)()


def _legal_sentence(r: random.Random) -> str:
    n, d = r.randint(2, 12), r.choice([14, 30, 45, 60, 90])
    cond = r.choice(COND).format(n=n, d=d)
    forms = [
        lambda: f"{_cap(r.choice(PARTY))} shall {r.choice(LVERB)} {r.choice(THING)} only where {cond}.",
        lambda: (
            f"Nothing in this {r.choice(DOC)} shall be construed to require {r.choice(PARTY)} to "
            f"{r.choice(LVERB)} {r.choice(THING)}."
        ),
        lambda: (
            f"If {r.choice(PARTY)} fails to {r.choice(LVERB)} {r.choice(THING)} within {d} days, "
            f"{r.choice(PARTY)} may {r.choice(LVERB)} it on their behalf, provided that {cond}."
        ),
        lambda: (
            f"{_cap(r.choice(PARTY))} may {r.choice(LVERB)} {r.choice(THING)} in any medium, subject to Section {n}."
        ),
        lambda: (
            f"Any {r.choice(['notice', 'request', 'objection', 'record'])} under this "
            f"{r.choice(DOC)} must be made in writing and delivered to {r.choice(PARTY)}."
        ),
        lambda: (
            f"Except as stated in Section {n}, {r.choice(PARTY)} makes no promise that "
            f"{r.choice(THING)} is complete, current or suitable for any purpose."
        ),
        lambda: (
            f"The rights granted under this {r.choice(DOC)} end automatically if {r.choice(PARTY)} "
            f"attempts to {r.choice(LVERB)} {r.choice(THING)} otherwise than as permitted here."
        ),
    ]
    return r.choice(forms)()


def generated_prose(seed: int, register: str, words: int = 1500) -> str:
    """Deterministic prose of about ``words`` words, wrapped at 72 columns like a license file.

    ``register``: ``legal`` (numbered sections of license-like clauses) or ``expository`` (narrative)."""
    r = random.Random(seed)
    paras: list[str] = []
    total, section = 0, 0
    while total < words:
        sentences = [
            (_legal_sentence if register == "legal" else _expository_sentence)(r) for _ in range(r.randint(3, 6))
        ]
        body = " ".join(sentences)
        if register == "legal":
            section += 1
            paras.append(f"{section}. {r.choice(HEAD)}.")
        paras.append(textwrap.fill(body, width=72))
        total += len(body.split())
    return "\n\n".join(paras) + "\n"
