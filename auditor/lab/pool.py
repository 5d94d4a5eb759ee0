"""The real-text lab's data: a seeded member / non-member split of a shipped text pool, canaries, forget set.

Membership inference is only meaningful when members and non-members come from one distribution
(Duan et al. 2024, "Do membership inference attacks work on large language models?"; Das et al. 2024,
"Blind baselines beat membership inference attacks for foundation models"): both are drawn at random
from the same pool, so the only difference between them is the fine-tuning. Canaries follow Carlini
et al. 2019 ("The Secret Sharer"): a fixed template with a unique name and a random digit secret,
inserted a known number of times.

Everything here is a pure function of the pool file and the seed: same seed, same files.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ConfigError, InputError

FIRST = "Maria Jonas Aiko Omar Lena Pavel Grace Tomas Ines Ravi Freya Hugo Nadia Emil Sofia Karim Ada Felix".split()
LAST = "Keller Novak Tanaka Haddad Berg Moreau Okafor Lindqvist Rossi Sato Costa Fischer Dubois Weber".split()
CANARY_TEMPLATE = "The bank PIN of {name} is"


@dataclass(frozen=True)
class PoolSpec:
    """Which pool file, and how many of its texts become members, non-members and calibration texts."""

    file: str = "stdlib_docstrings.jsonl"  # under tasks/data/pool/, or an absolute path
    n_members: int = 120
    n_nonmembers: int = 120
    max_tokens: int = 128  # only texts of at most this many tokens are split (the training budget)
    n_calibration: int = 64  # texts outside both sets, for pruning calibration
    forget_fraction: float = 0.1  # share of the members (first by id) that unlearning is asked to forget


@dataclass(frozen=True)
class CanarySpec:
    """Canaries: ``per_level`` canaries inserted ``level`` times for each level."""

    levels: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    per_level: int = 2
    digits: int = 4


def pool_path(file: str) -> Path:
    """A pool file: absolute, or under the shipped ``tasks/data/pool/``."""
    from auditor.tasks import tasks_dir

    p = Path(file)
    return p if p.is_absolute() else tasks_dir() / "data" / "pool" / file


def load_pool(file: str) -> tuple[list[dict], str]:
    """The pool's rows ({id, text, tokens, ...}) and the sha256 of its file."""
    path = pool_path(file)
    if not path.is_file():
        raise InputError(f"text pool {path} is missing; restore tasks/data/pool/ (git checkout) or reinstall")
    data = path.read_bytes()
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get("text"), str) or not isinstance(r.get("tokens"), int):
            raise InputError(f"{path}:{n}: a pool row needs 'text' and 'tokens'; rebuild it with its script")
    return rows, hashlib.sha256(data).hexdigest()


def split_pool(rows: list[dict], spec: PoolSpec, seed: int) -> dict[str, list[dict]]:
    """members, nonmembers (random halves of the texts of at most ``max_tokens``) and calibration texts."""
    fit = [r for r in rows if r["tokens"] <= spec.max_tokens]
    need = spec.n_members + spec.n_nonmembers
    if len(fit) < need:
        raise ConfigError(
            f"the pool has {len(fit)} texts of <= {spec.max_tokens} tokens but {need} are asked for; "
            "lower n_members / n_nonmembers or raise max_tokens"
        )
    rng = random.Random(f"{seed}-pool-split")
    order = list(range(len(rows)))
    rng.shuffle(order)
    chosen = [i for i in order if rows[i]["tokens"] <= spec.max_tokens][:need]
    taken = set(chosen)
    rest = [i for i in order if i not in taken][: spec.n_calibration]

    def rows_of(idx: list[int], kind: str) -> list[dict]:
        return [{"id": f"{kind}-{k:04d}", "text": rows[i]["text"], "pool_id": rows[i]["id"]} for k, i in enumerate(idx)]

    return {
        "members": rows_of(chosen[: spec.n_members], "member"),
        "nonmembers": rows_of(chosen[spec.n_members :], "nonmember"),
        "calibration": rows_of(rest, "calib"),
    }


def make_canaries(spec: CanarySpec, seed: int) -> list[dict]:
    """Canaries {id, prefix, secret, repeats}: unique names, distinct random secrets (the standard lab's schema)."""
    rng = random.Random(f"{seed}-canaries")
    n = len(spec.levels) * spec.per_level
    names = [f"{a} {b}" for a in FIRST for b in LAST]
    if n > len(names) or n > 10**spec.digits // 2:
        raise ConfigError(f"{n} canaries are too many for the name list or the secret space; lower per_level")
    names = rng.sample(names, n)
    secrets: set[str] = set()
    out = []
    for level in spec.levels:
        for _ in range(spec.per_level):
            secret = "".join(rng.choice("0123456789") for _ in range(spec.digits))
            while secret in secrets:
                secret = "".join(rng.choice("0123456789") for _ in range(spec.digits))
            secrets.add(secret)
            prefix = CANARY_TEMPLATE.format(name=names[len(out)])
            out.append({"id": f"canary-{len(out):04d}", "prefix": prefix, "secret": f" {secret}", "repeats": level})
    return out


def canary_text(c: dict) -> str:
    """The canary as it appears in training (the standard lab's form: prefix + secret + '.')."""
    return c["prefix"] + c["secret"] + "."


def forget_retain(members: list[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    """The first ``fraction`` of the members (by id) are the forget set, the rest the retain set."""
    n = max(1, round(fraction * len(members)))
    return members[:n], members[n:]


def training_stream(members: list[dict], canaries: list[dict], epochs: int, seed: int) -> list[str]:
    """The documents in training order: ``epochs`` shuffled passes over the members, each canary inserted
    ``repeats`` times in all, at seeded random positions of the whole stream.

    Each epoch's order and the canary positions are seeded by (seed, epoch) only, so the
    retrain-without-forget oracle (the members minus the forget set) is trained by the same procedure.
    """
    stream: list[str] = []
    for epoch in range(epochs):
        ep = sorted(members, key=lambda r: r["id"])
        random.Random(f"{seed}-epoch-{epoch}").shuffle(ep)
        stream += [r["text"] for r in ep]
    crng = random.Random(f"{seed}-canary-positions")
    for c in canaries:
        for _ in range(int(c["repeats"])):
            stream.insert(crng.randint(0, len(stream)), canary_text(c))
    return stream
