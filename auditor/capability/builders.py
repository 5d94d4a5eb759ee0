"""Build capability tasks from the lab's ground truth, from real facts, or from a user file.

Sources (``capability.source``):

* ``lab``: the lab's ``facts.jsonl``, ``open_book.jsonl``, ``overriding.jsonl`` and
  ``icl_classification.jsonl``, prompts used verbatim (the lab model was trained on exactly these formats);
* ``real``: countries and elements (:mod:`auditor.capability.real`) with ``shots`` demonstrations, and
  in-context classification episodes generated from ``seed`` (:mod:`auditor.capability.icl`);
* a user file per family (``capability.files``: ``{family: path}``), in the format of
  :mod:`auditor.capability.userfile`; it takes precedence over ``source`` for its family.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from auditor.capability import real
from auditor.capability.icl import icl_episodes
from auditor.capability.normalize import normalize_answer
from auditor.capability.schema import (
    FAMILIES,
    GENERATE_UNTIL,
    MULTIPLE_CHOICE,
    OUTPUT_TYPES,
    Task,
    TaskItem,
    read_jsonl,
)
from auditor.capability.userfile import load_user_task
from auditor.errors import ConfigError, InputError

SOURCES = ("lab", "real")
# family -> the lab file it reads
LAB_FILES = {
    "fact_recall": "facts.jsonl",
    "open_book": "open_book.jsonl",
    "overriding": "overriding.jsonl",
    "icl_classification": "icl_classification.jsonl",
}
LAB_MEMORIZED = {"overriding": "memorized_answer"}  # family -> the lab row's field holding the memorized answer
REAL_SOURCE = "countryinfo+pycountry, tasks/data/elements.json"


@dataclass(frozen=True)
class CapabilityConfig:
    """Where capability tasks come from and how they are prompted (the sweep's ``capability:`` section)."""

    enabled: bool = True  # (audit) measure the capability families at the dense model and sweep points
    families: tuple[str, ...] = FAMILIES  # (audit) which families; a sweep names them in its families: list
    source: str | None = None  # lab | real; default: lab when the sweep has lab:, else real
    files: dict[str, str] = field(default_factory=dict)  # family -> user JSONL file (takes precedence)
    limit: int | None = None  # items per family (a seeded sample); lm_eval:<task> takes its first `limit` docs
    shots: int = 3  # QA demonstrations per prompt (real and file sources; the lab's prompts are verbatim)
    icl_shots: int = 8  # labelled examples per in-context classification episode (real source)
    icl_dim: int = 1  # dimension of the points of the linear rule (real source)
    icl_episodes: int = 200  # episodes generated when no limit is set (real source)
    seed: int = 0  # demonstrations, episodes, samples
    max_new_tokens: int = 16  # greedy generation budget per answer (first line kept)

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in SOURCES:
            raise ConfigError(f"source: unknown source {self.source!r}; valid: {', '.join(SOURCES)}")
        for fam in self.files:
            if fam not in FAMILIES:
                raise ConfigError(f"files: unknown family {fam!r}; valid: {', '.join(FAMILIES)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit: must be at least 1, got {self.limit}")
        if self.shots < 0 or self.icl_shots < 0 or self.icl_dim < 1 or self.max_new_tokens < 1:
            raise ConfigError("shots and icl_shots must be >= 0, icl_dim and max_new_tokens >= 1")


def _lab_qa_item(family: str, row: dict) -> TaskItem:
    """A ``generate_until`` lab row: its prompt verbatim (and the memorized answer, for overriding QA)."""
    key = LAB_MEMORIZED.get(family)
    memorized = (row[key],) if key and key in row else ()
    return TaskItem(row["id"], family, row["prompt"], (row["answer"],), memorized=memorized)


def _lab_choice_item(family: str, row: dict) -> TaskItem:
    """A ``multiple_choice`` lab row (header, labelled examples, query): the choices are the labels it shows."""
    lines = row["prompt"].split("\n")
    labels = sorted({ln.rsplit(" ", 1)[-1] for ln in lines[1:-1]} | {row["answer"].strip()})
    return TaskItem(
        row["id"], family, lines[-1], (row["answer"],), tuple(lines[1:-1]), lines[0], tuple(f" {x}" for x in labels)
    )


# a family's output_type -> how a lab row of it is read
LAB_ITEMS: dict[str, Callable[[str, dict], TaskItem]] = {
    GENERATE_UNTIL: _lab_qa_item,
    MULTIPLE_CHOICE: _lab_choice_item,
}


def _lab_item(family: str, n: int, row: dict, path: Path) -> TaskItem:
    for key in ("id", "prompt", "answer"):
        if key not in row:
            raise InputError(f"{path}:{n}: missing field {key!r} (a lab {family} row needs id, prompt, answer)")
    return LAB_ITEMS[OUTPUT_TYPES[family]](family, row)


def lab_task(lab: str | Path, family: str) -> Task:
    """A family from a lab folder's ground-truth file."""
    path = Path(lab) / LAB_FILES[family]
    items = tuple(_lab_item(family, n, r, path) for n, r in read_jsonl(path))
    source = f"lab {Path(lab).name}/{LAB_FILES[family]}"
    return Task(f"lab_{family}", family, items, source, OUTPUT_TYPES[family])


def _real_fact_recall(cfg: CapabilityConfig) -> tuple[list[TaskItem], str]:
    return real.fact_recall_items(real.real_facts(), cfg.shots, cfg.seed), REAL_SOURCE


def _real_overriding(cfg: CapabilityConfig) -> tuple[list[TaskItem], str]:
    return real.overriding_items(real.real_facts(), cfg.shots, cfg.seed), REAL_SOURCE


def _real_open_book(cfg: CapabilityConfig) -> tuple[list[TaskItem], str]:
    """Fictional entities, none named like a real subject or answer."""
    taken = {normalize_answer(a) for f in real.real_facts() for a in (f.subject, *f.answers)}
    return real.open_book_items(max(cfg.limit or 0, 400), cfg.shots, cfg.seed, taken), REAL_SOURCE


def _real_icl(cfg: CapabilityConfig) -> tuple[list[TaskItem], str]:
    """Fresh in-context classification episodes (``limit`` of them, else ``icl_episodes``)."""
    items = icl_episodes(cfg.seed, cfg.limit or cfg.icl_episodes, cfg.icl_shots, cfg.icl_dim)
    return items, f"generated (seed {cfg.seed})"


# family -> its items and their source under ``source: real``
REAL_BUILDERS: dict[str, Callable[[CapabilityConfig], tuple[list[TaskItem], str]]] = {
    "fact_recall": _real_fact_recall,
    "open_book": _real_open_book,
    "overriding": _real_overriding,
    "icl_classification": _real_icl,
}


def real_task(family: str, cfg: CapabilityConfig) -> Task:
    """A family from real facts (countries, elements), fictional entities, or generated episodes."""
    items, source = REAL_BUILDERS[family](cfg)
    return Task(f"real_{family}", family, tuple(items), source, OUTPUT_TYPES[family])


def sample(task: Task, limit: int | None, seed: int) -> Task:
    """At most ``limit`` items, a seeded sample kept in file order."""
    if limit is None or limit >= len(task.items):
        return task
    keep = sorted(random.Random(f"{seed}-sample-{task.name}").sample(range(len(task.items)), limit))
    return replace(task, items=tuple(task.items[i] for i in keep))


def build_task(family: str, cfg: CapabilityConfig, lab: str | Path | None = None) -> Task:
    """One family's task from the configured source (user file, lab or real), sampled to ``limit``."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown capability family {family!r}; valid: {', '.join(FAMILIES)}")
    if family in cfg.files:
        path = Path(cfg.files[family])
        items = load_user_task(path, family, cfg.shots, cfg.seed)
        task = Task(f"file_{path.stem}", family, tuple(items), str(path), OUTPUT_TYPES[family])
    else:
        source = cfg.source or ("lab" if lab else "real")
        if source == "lab":
            if not lab:
                raise ConfigError("capability.source: lab needs lab: FOLDER (or use source: real, or files:)")
            task = lab_task(lab, family)
        else:
            task = real_task(family, cfg)
    return sample(task, cfg.limit, cfg.seed)
