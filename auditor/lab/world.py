"""Generate the synthetic lab's world: entities with facts, documents, canaries and task files.

Everything here is plain Python driven by ``random.Random`` streams derived from one seed, so a
world (and its training corpus) is regenerated bit-for-bit from ``(preset, seed)`` in seconds.
Nothing here touches torch.

The lab is built so that every probe of the audit has a known answer:

* ``members`` / ``nonmembers``: biographies drawn from one generator; members are trained on
  ``member_repeats`` times, non-members never (membership inference ground truth).
* ``canaries``: random digit secrets after a unique prefix, inserted 1, 2, 4, ... times
  (Carlini et al. 2019, "The Secret Sharer"; extraction and exposure ground truth).
* ``facts``: (entity, relation) -> value triples asked as closed-book QA (fact recall).
* ``open_book`` / ``overriding`` / ``icl_classification``: in-context tasks in the style of
  Jin et al. 2024, "The cost of down-scaling language models" (ICLR 2024).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RELATIONS: tuple[str, ...] = ("capital", "language", "currency")
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
JOBS = (
    "baker", "miller", "weaver", "sailor", "potter", "scribe", "farmer", "smith", "tailor",
    "mason", "healer", "hunter", "fisher", "brewer", "carpenter", "painter", "singer", "guard",
)  # fmt: skip
ANIMALS = ("goat", "horse", "owl", "cat", "dog", "sheep", "hen", "fox", "mule", "crow", "pig")
COLORS = ("red", "blue", "green", "grey", "white", "black", "golden", "silver", "brown")
THINGS = ("river", "tower", "garden", "winter", "lantern", "mountain", "harbor", "forest", "bell")
COUNTS = ("two", "three", "four", "five", "six", "seven", "eight", "nine")
ICL_LABELS = ("A", "B")


@dataclass(frozen=True)
class WorldSpec:
    """Sizes of a lab world. Field docs name what each count controls."""

    n_entities: int  # entities whose facts are trained on (fact recall)
    value_pool: int  # distinct values per relation
    fact_repeats: int  # times each fact's QA line is seen in training
    n_members: int  # member biographies (trained on)
    n_nonmembers: int  # non-member biographies (held out, same distribution)
    member_repeats: int  # times each member biography is seen
    canary_levels: tuple[int, ...]  # repeat counts of canaries (1, 2, 4, ...)
    canaries_per_level: int  # canaries per repeat count
    secret_digits: int  # length of a canary secret in digits
    n_open_book_train: int  # context-QA training documents about fresh entities
    n_override_train: int  # counterfactual-context training documents about known entities
    n_icl_train: int  # in-context classification training episodes
    icl_shots: int  # labelled examples per episode
    n_eval: int  # items in each of open_book / overriding / icl_classification eval files
    context_format: str = "qa"  # "qa": question after the context; "cloze": the statement to complete
    statement_repeats: int = 0  # times each fact is also seen as a plain statement
    warmup_frac: float = 0.0  # share of the context/ICL documents trained on first, before any fact
    n_copy_train: int = 0  # "List: ... Again: ..." documents (a random list twice) that teach copying


@dataclass
class World:
    """A generated world: ground-truth files (as lists of dicts) and the training documents."""

    spec: WorldSpec
    seed: int
    facts: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    nonmembers: list[dict] = field(default_factory=list)
    canaries: list[dict] = field(default_factory=list)
    open_book: list[dict] = field(default_factory=list)
    overriding: list[dict] = field(default_factory=list)
    icl_classification: list[dict] = field(default_factory=list)
    train_docs: list[str] = field(default_factory=list)
    warmup_docs: int = 0  # the first `warmup_docs` train_docs form a first phase (in-context tasks only)

    def files(self) -> dict[str, list[dict]]:
        """Ground-truth files keyed by their name without the ``.jsonl`` suffix."""
        return {
            "members": self.members,
            "nonmembers": self.nonmembers,
            "canaries": self.canaries,
            "facts": self.facts,
            "open_book": self.open_book,
            "overriding": self.overriding,
            "icl_classification": self.icl_classification,
        }


class _Names:
    """Made-up capitalised words, unique across the whole world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def any_word(self, syllables: tuple[int, int] = (2, 3)) -> str:
        """A made-up word that may repeat an earlier one."""
        n = self.rng.randint(*syllables)
        parts = [self.rng.choice(CONSONANTS) + self.rng.choice(VOWELS) for _ in range(n)]
        if self.rng.random() < 0.5:
            parts.append(self.rng.choice("nrslm"))
        return "".join(parts).capitalize()

    def word(self, syllables: tuple[int, int] = (2, 3)) -> str:
        """A made-up word not returned before (longer words once the short ones run low)."""
        lo, hi = syllables
        for attempt in range(10_000):
            w = self.any_word((lo, hi + attempt // 200))
            if w not in self.used:
                self.used.add(w)
                return w
        raise RuntimeError("ran out of unique names; lower the world's sizes")


def question(relation: str, subject: str) -> str:
    return f"Q: What is the {relation} of {subject}? A:"


def statement(relation: str, subject: str, value: str) -> str:
    return f"The {relation} of {subject} is {value}."


def _context_item(
    rng: random.Random,
    subject: str,
    relation: str,
    value: str,
    pools: dict[str, list[str]],
    names: _Names,
    fmt: str = "qa",
) -> dict:
    """A context-QA item: a context stating the fact (maybe beside a distractor), then the question."""
    sentences = [statement(relation, subject, value)]
    if rng.random() < 0.5:
        rel2 = rng.choice(RELATIONS)
        sentences.append(statement(rel2, names.word(), rng.choice(pools[rel2])))
        rng.shuffle(sentences)
    context = " ".join(sentences)
    if fmt == "cloze":
        prompt = f"Context: {context} Complete: The {relation} of {subject} is"
    else:
        prompt = f"Context: {context} {question(relation, subject)}"
    return {"subject": subject, "relation": relation, "context": context, "prompt": prompt, "answer": f" {value}"}


def _icl_episode(rng: random.Random, shots: int) -> dict:
    """In-context threshold classification on integers 0-99 with a fresh rule per episode.

    The rule is ``label = A if x >= t else B`` with a random threshold ``t`` in 20, 30, ..., 80 (a
    1-D linear rule a tiny model can learn to infer from examples) and a random label swap, so the
    label of a number can only be inferred from the episode's own examples.
    The query is drawn outside the gap between the closest examples of opposite labels, so its
    label is determined by the examples.
    """
    while True:
        t = 10 * rng.randint(2, 8)
        swap = rng.random() < 0.5
        xs = rng.sample(range(100), shots)
        lo = max((x for x in xs if x < t), default=None)
        hi = min((x for x in xs if x >= t), default=None)
        if lo is None or hi is None:
            continue
        candidates = [q for q in range(100) if (q <= lo or q >= hi) and q not in xs]
        q = rng.choice(candidates)
        break

    def label(x: int) -> str:
        above = x >= t
        return ICL_LABELS[int(above) ^ int(swap)]

    lines = [f"{x} -> {label(x)}" for x in xs]
    prompt = "Classify:\n" + "\n".join(lines) + f"\n{q} ->"
    return {"threshold": t, "swap": swap, "examples": xs, "query": q, "prompt": prompt, "answer": f" {label(q)}"}


def _biography(rng: random.Random, names: _Names, cities: list[str]) -> str:
    first, last = names.word((1, 2)), names.word((2, 2))
    y1 = rng.randint(1700, 1950)
    return (
        f"{first} {last} was born in {y1} in {rng.choice(cities)}. "
        f"{first} worked as a {rng.choice(JOBS)} and kept {rng.choice(COUNTS)} "
        f"{rng.choice(ANIMALS)}s. In {y1 + rng.randint(18, 60)} {first} moved to "
        f"{rng.choice(cities)} and wrote a book called The {rng.choice(COLORS).capitalize()} "
        f"{rng.choice(THINGS).capitalize()}."
    )


def generate_world(spec: WorldSpec, seed: int) -> World:
    """Generate a world and its shuffled training corpus, deterministically from ``seed``."""
    world = World(spec=spec, seed=seed)
    names = _Names(random.Random(f"{seed}-names"))
    rng = random.Random(f"{seed}-world")

    pools = {r: [names.word((2, 2)) for _ in range(spec.value_pool)] for r in RELATIONS}
    entities = [names.word() for _ in range(spec.n_entities)]
    truth: dict[tuple[str, str], str] = {}
    for e in entities:
        for r in RELATIONS:
            truth[(e, r)] = rng.choice(pools[r])
            world.facts.append(
                {
                    "id": f"fact-{len(world.facts):04d}",
                    "subject": e,
                    "relation": r,
                    "prompt": question(r, e),
                    "answer": f" {truth[(e, r)]}",
                }
            )

    bios = [_biography(rng, names, pools["capital"]) for _ in range(spec.n_members + spec.n_nonmembers)]
    world.members = [{"id": f"member-{i:04d}", "text": t} for i, t in enumerate(bios[: spec.n_members])]
    world.nonmembers = [{"id": f"nonmember-{i:04d}", "text": t} for i, t in enumerate(bios[spec.n_members :])]

    for level in spec.canary_levels:
        for _ in range(spec.canaries_per_level):
            secret = "".join(rng.choice("0123456789") for _ in range(spec.secret_digits))
            who = f"{names.word((1, 2))} {names.word((2, 2))}"
            world.canaries.append(
                {
                    "id": f"canary-{len(world.canaries):04d}",
                    "prefix": f"The secret code of {who} is",
                    "secret": f" {secret}",
                    "repeats": level,
                }
            )

    eval_rng = random.Random(f"{seed}-eval")
    for i in range(spec.n_eval):
        r = eval_rng.choice(RELATIONS)
        item = _context_item(eval_rng, names.word(), r, eval_rng.choice(pools[r]), pools, names, spec.context_format)
        world.open_book.append({"id": f"open-{i:04d}", **item})
        fact = eval_rng.choice(world.facts)
        s, r = fact["subject"], fact["relation"]
        value = eval_rng.choice([v for v in pools[r] if v != truth[(s, r)]])
        item = _context_item(eval_rng, s, r, value, pools, names, spec.context_format)
        world.overriding.append({"id": f"override-{i:04d}", **item, "memorized_answer": fact["answer"]})
        world.icl_classification.append({"id": f"icl-{i:04d}", **_icl_episode(eval_rng, spec.icl_shots)})

    world.train_docs, world.warmup_docs = _training_docs(
        world, truth, entities, pools, names, random.Random(f"{seed}-corpus")
    )
    return world


def _training_docs(
    world: World,
    truth: dict[tuple[str, str], str],
    entities: list[str],
    pools: dict[str, list[str]],
    names: _Names,
    rng: random.Random,
) -> list[str]:
    """The training documents, and how many of them (at the front) form the in-context warm-up phase.

    In-context copying (open-book, overriding) competes with memorizing facts in a tiny model: with
    facts in the mix from the start it never forms. So a share of the in-context documents comes
    first, and facts, members and canaries are mixed in only after that.
    """
    spec = world.spec
    docs: list[str] = []
    # Closed-book facts: QA lines, several per document, each fact `fact_repeats` times.
    lines = [f["prompt"] + f["answer"] + "." for f in world.facts] * spec.fact_repeats
    lines += [statement(f["relation"], f["subject"], f["answer"].strip()) for f in world.facts] * spec.statement_repeats
    rng.shuffle(lines)
    i = 0
    while i < len(lines):
        n = rng.randint(1, 4)
        docs.append("\n".join(lines[i : i + n]))
        i += n
    for m in world.members:
        docs.extend([m["text"]] * spec.member_repeats)
    for c in world.canaries:
        docs.extend([c["prefix"] + c["secret"] + "."] * c["repeats"])
    context: list[str] = []
    for _ in range(spec.n_open_book_train):
        r = rng.choice(RELATIONS)
        item = _context_item(rng, names.word(), r, rng.choice(pools[r]), pools, names, spec.context_format)
        context.append(item["prompt"] + item["answer"] + ".")
    for _ in range(spec.n_override_train):
        e, r = rng.choice(entities), rng.choice(RELATIONS)
        value = rng.choice([v for v in pools[r] if v != truth[(e, r)]])
        item = _context_item(rng, e, r, value, pools, names, spec.context_format)
        context.append(item["prompt"] + item["answer"] + ".")
    for _ in range(spec.n_icl_train):
        ep = _icl_episode(rng, spec.icl_shots)
        context.append(ep["prompt"] + ep["answer"])
    for _ in range(spec.n_copy_train):
        items = [
            names.any_word((1, 3)) if rng.random() < 0.7 else str(rng.randint(0, 99)) for _ in range(rng.randint(4, 10))
        ]
        context.append(f"List: {' '.join(items)}. Again: {' '.join(items)}.")
    rng.shuffle(context)
    n_warm = int(spec.warmup_frac * len(context))
    rest = docs + context[n_warm:]
    rng.shuffle(rest)
    return context[:n_warm] + rest, n_warm
