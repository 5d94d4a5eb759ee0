"""Capability task items: what a task file holds, how a prompt is rendered, and fitting k-shot to the context.

A task is a list of :class:`TaskItem`. An item is rendered to one prompt string::

    [header]              e.g. "Classify:" (in-context classification), may be empty
    demo_1 ... demo_k     k complete demonstrations from the same family, one per line
    query                 e.g. "Q: What is the capital of France? A:"

joined by newlines. A task declares how it is scored, as lm-eval's ``output_type`` does
(:data:`OUTPUT_TYPES`, set where tasks are built): ``generate_until`` (``fact_recall``, ``open_book``,
``overriding``) is greedy generation and normalized match against ``answers``
(:mod:`auditor.capability.normalize`); ``multiple_choice`` (``icl_classification``) is log-likelihood
choice among ``choices``, at k shots and at 0 shots, the baseline of Jin et al. 2024 ("The cost of
down-scaling language models", ICLR 2024). Rendered rows (what ``tasks/*.jsonl`` and the lm-eval task
configs read) are ``{"id", "family", "prompt", "answers", "shots"}`` plus ``choices`` and ``gold`` for
choice items, ``prompt_0shot`` for multiple-choice tasks and ``memorized_answers`` for overriding QA.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from auditor.errors import InputError
from auditor.inputs.data import numbered_jsonl

log = logging.getLogger(__name__)

OutputType = Literal["generate_until", "multiple_choice"]  # lm-eval's names for the two scoring modes
GENERATE_UNTIL: OutputType = "generate_until"
MULTIPLE_CHOICE: OutputType = "multiple_choice"
# family -> how its tasks are scored (the one place a family's scoring mode is declared)
OUTPUT_TYPES: dict[str, OutputType] = {
    "fact_recall": GENERATE_UNTIL,
    "open_book": GENERATE_UNTIL,
    "overriding": GENERATE_UNTIL,
    "icl_classification": MULTIPLE_CHOICE,
}
FAMILIES: tuple[str, ...] = tuple(OUTPUT_TYPES)


@dataclass(frozen=True)
class TaskItem:
    """One question (or classification episode) with its demonstrations and gold answers."""

    id: str
    family: str
    query: str  # the last line of the prompt, ending where the answer starts
    answers: tuple[str, ...]  # any of these is correct; answers[0] is shown in demonstrations
    demos: tuple[str, ...] = ()  # complete demonstrations, most relevant last
    header: str = ""  # a first line shown before the demonstrations (may be empty)
    choices: tuple[str, ...] = ()  # log-likelihood choice among these (appended to the prompt as is)
    memorized: tuple[str, ...] = ()  # overriding QA: the answer the model would give from memory
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def gold(self) -> int | None:
        return self.choices.index(self.answers[0]) if self.choices else None

    def prompt(self, shots: int | None = None) -> str:
        """The prompt with the last ``shots`` demonstrations (all of them when None)."""
        k = len(self.demos) if shots is None else max(0, min(shots, len(self.demos)))
        parts = ([self.header] if self.header else []) + list(self.demos[len(self.demos) - k :]) + [self.query]
        return "\n".join(parts)


@dataclass(frozen=True)
class Task:
    """A named list of items of one family (e.g. ``real_fact_recall``), with how it is scored.

    ``output_type`` is lm-eval's: ``generate_until`` (greedy generation, normalized match; lm-eval's default
    too) or ``multiple_choice`` (log-likelihood choice among each item's ``choices``, plus a 0-shot baseline).
    """

    name: str
    family: str
    items: tuple[TaskItem, ...]
    source: str = ""  # where the items came from (lab folder, 'countryinfo+pycountry', a file)
    output_type: OutputType = GENERATE_UNTIL

    def __post_init__(self) -> None:
        if self.output_type not in get_args(OutputType):
            raise ValueError(f"task {self.name}: unknown output_type {self.output_type!r}")
        if self.output_type == MULTIPLE_CHOICE and not all(x.choices for x in self.items):
            raise ValueError(f"task {self.name}: a multiple_choice task needs choices on every item")


def fit_to_context(task: Task, tokenizer, max_tokens: int) -> tuple[Task, dict]:
    """Drop the oldest demonstrations of any item whose prompt exceeds ``max_tokens`` tokens.

    Returns the fitted task and ``{"requested_shots", "min_shots", "reduced"}`` (items shortened).
    An item too long even with no demonstration is an error naming it.
    """
    items, reduced, min_k = [], 0, None
    requested = max((len(x.demos) for x in task.items), default=0)
    for item in task.items:
        k = len(item.demos)
        while len(tokenizer(item.prompt(k), add_special_tokens=True)["input_ids"]) > max_tokens:
            if k == 0:
                raise InputError(
                    f"task {task.name}: item {item.id} is longer than the model's context ({max_tokens} tokens "
                    "left after room for the answer) even with no demonstrations; shorten it or drop it"
                )
            k -= 1
        if k < len(item.demos):
            reduced += 1
            item = replace(item, demos=item.demos[len(item.demos) - k :])
        min_k = k if min_k is None else min(min_k, k)
        items.append(item)
    if reduced:
        log.warning(
            "task %s: %d item(s) had k-shot reduced to fit the %d-token context (down to %d of %d demonstrations)",
            task.name,
            reduced,
            max_tokens,
            min_k,
            requested,
        )
    info = {"requested_shots": requested, "min_shots": min_k or 0, "reduced": reduced}
    return replace(task, items=tuple(items)), info


def to_row(item: TaskItem, output_type: OutputType = GENERATE_UNTIL) -> dict:
    """The rendered row written to task files and read by the lm-eval configs (a multiple-choice task's rows
    also hold the 0-shot prompt, for the 0-shot baseline)."""
    row: dict = {"id": item.id, "family": item.family, "prompt": item.prompt(), "answers": list(item.answers)}
    row["shots"] = len(item.demos)
    if item.choices:
        row["choices"] = list(item.choices)
        row["gold"] = item.gold
    if output_type == MULTIPLE_CHOICE:
        row["prompt_0shot"] = item.prompt(0)
    if item.memorized:
        row["memorized_answers"] = list(item.memorized)
    return row


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """``(line number, row)`` for each non-blank line of a JSONL file; bad lines are errors naming the line."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"task file not found: {p}")
    out = numbered_jsonl(p)
    if not out:
        raise InputError(f"{p}: no rows; a task file needs at least one JSON object per line")
    return out


def write_rows(path: str | Path, task: Task) -> Path:
    """Write a task's rendered rows (one JSON object per line)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = (json.dumps(to_row(x, task.output_type), ensure_ascii=False) + "\n" for x in task.items)
    p.write_text("".join(rows), encoding="utf-8")
    return p


def sample_others(pool: list[TaskItem], self_index: int, k: int, seed: int, key: str) -> list[TaskItem]:
    """``k`` items of ``pool`` other than ``pool[self_index]``, drawn by a generator seeded by ``(seed, key)``."""
    k = min(k, len(pool) - 1)
    picks = random.Random(f"{seed}-demos-{key}").sample(range(len(pool) - 1), k)
    return [pool[i + (i >= self_index)] for i in picks]
