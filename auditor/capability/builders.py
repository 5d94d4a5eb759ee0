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
from dataclasses import dataclass, field
from pathlib import Path

from auditor.capability.icl import icl_episodes
from auditor.capability.schema import FAMILIES, Task, TaskItem, read_jsonl
from auditor.capability.userfile import load_user_task
from auditor.errors import ConfigError, InputError

SOURCES = ("lab", "real")
LAB_FILES = {
    "fact_recall": "facts.jsonl",
    "open_book": "open_book.jsonl",
    "overriding": "overriding.jsonl",
    "icl_classification": "icl_classification.jsonl",
}


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


def _lab_item(family: str, n: int, row: dict, path: Path) -> TaskItem:
    for key in ("id", "prompt", "answer"):
        if key not in row:
            raise InputError(f"{path}:{n}: missing field {key!r} (a lab {family} row needs id, prompt, answer)")
    if family == "icl_classification":
        lines = row["prompt"].split("\n")
        labels = sorted({ln.rsplit(" ", 1)[-1] for ln in lines[1:-1]} | {row["answer"].strip()})
        return TaskItem(
            row["id"], family, lines[-1], (row["answer"],), tuple(lines[1:-1]), lines[0], tuple(f" {x}" for x in labels)
        )
    memorized = (row["memorized_answer"],) if family == "overriding" and "memorized_answer" in row else ()
    return TaskItem(row["id"], family, row["prompt"], (row["answer"],), memorized=memorized)


def lab_task(lab: str | Path, family: str) -> Task:
    """A family from a lab folder's ground-truth file."""
    path = Path(lab) / LAB_FILES[family]
    items = tuple(_lab_item(family, n, r, path) for n, r in read_jsonl(path))
    return Task(f"lab_{family}", family, items, source=f"lab {Path(lab).name}/{LAB_FILES[family]}")


def real_task(family: str, cfg: CapabilityConfig) -> Task:
    """A family from real facts (countries, elements), fictional entities, or generated episodes."""
    from auditor.capability import real

    if family == "icl_classification":
        n = cfg.limit or cfg.icl_episodes
        items = icl_episodes(cfg.seed, n, cfg.icl_shots, cfg.icl_dim)
        return Task("real_icl_classification", family, tuple(items), source=f"generated (seed {cfg.seed})")
    facts = real.real_facts()
    if family == "fact_recall":
        items = real.fact_recall_items(facts, cfg.shots, cfg.seed)
    elif family == "overriding":
        items = real.overriding_items(facts, cfg.shots, cfg.seed)
    else:
        from auditor.capability.normalize import normalize_answer

        taken = {normalize_answer(a) for f in facts for a in (f.subject, *f.answers)}
        items = real.open_book_items(max(cfg.limit or 0, 400), cfg.shots, cfg.seed, taken)
    return Task(f"real_{family}", family, tuple(items), source="countryinfo+pycountry, tasks/data/elements.json")


def sample(task: Task, limit: int | None, seed: int) -> Task:
    """At most ``limit`` items, a seeded sample kept in file order."""
    if limit is None or limit >= len(task.items):
        return task
    keep = sorted(random.Random(f"{seed}-sample-{task.name}").sample(range(len(task.items)), limit))
    return Task(task.name, task.family, tuple(task.items[i] for i in keep), task.source)


def build_task(family: str, cfg: CapabilityConfig, lab: str | Path | None = None) -> Task:
    """One family's task from the configured source (user file, lab or real), sampled to ``limit``."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown capability family {family!r}; valid: {', '.join(FAMILIES)}")
    if family in cfg.files:
        path = Path(cfg.files[family])
        items = load_user_task(path, family, cfg.shots, cfg.seed)
        task = Task(f"file_{path.stem}", family, tuple(items), source=str(path))
    else:
        source = cfg.source or ("lab" if lab else "real")
        if source == "lab":
            if not lab:
                raise ConfigError("capability.source: lab needs lab: FOLDER (or use source: real, or files:)")
            task = lab_task(lab, family)
        else:
            task = real_task(family, cfg)
    return sample(task, cfg.limit, cfg.seed)
