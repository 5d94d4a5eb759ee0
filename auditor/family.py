"""What a probe family is: where it runs (a Point), what it is given (a FamilyContext), what it returns.

A family (``mia``, ``extraction``, ``exposure``, ``fact_recall``, ...) takes a loaded model, its data
and the point it runs at, and returns records; per-example rows go through ``ctx.samples(name)``,
which the pipeline owns (resumable units in ``samples/<name>.jsonl``, tagged with the point). A family
writes no file and draws no plot. What it needs is declared as data on the family (``needs``), like
lm-eval's ``output_type``, so no orchestrator checks family names.

The registry of families is built explicitly in :mod:`auditor.families`; the loop that runs
them is :mod:`auditor.pipeline.loop`. Records and samples are documented in ``docs/records.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from auditor.errors import ConfigError
from auditor.store.runs import Record, UnitLog

if TYPE_CHECKING:  # the contract is read by the report too: no torch import for a figure's declaration
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DENSE = "dense"
BETTER = ("lower", "higher", "closer to 0")  # which way a figure moves when the model is safer / more capable
_PLACEHOLDER = re.compile(r"<([a-z_]+)>")


@dataclass(frozen=True)
class Figure:
    """One figure a family records, declared by the family: what the report, summary.json, the terminal tables
    and the gate know about it (lm-eval's metric registry with ``higher_is_better`` is the model).

    ``path`` is its place in a point's figures tree, with ``<name>`` for one key of any spelling (a key may
    hold dots: ``mia.<attack>.auc`` matches ``mia.min_k_pp@0.2.auc``). Every figure in the tree has siblings
    ``<key>_n`` (the items it was measured on) and ``<key>_skipped`` (``{reason: count}``) where the records
    hold them, and ``<key>_ci`` when it has a 95% interval. ``meaning`` may name placeholders (``{attack}``).
    ``range`` is the values it can take (None: unbounded); ``ceiling`` names a sibling figure that holds the
    upper bound instead (exposure's ``max_possible``). ``headline``: shown on the report's first screen when
    no policy picks the figures; ``unit``: what ``n`` counts (texts, canaries, items)."""

    path: str
    meaning: str
    better: str = "lower"
    range: tuple[float, float] | None = (0.0, 1.0)
    ceiling: str | None = None
    headline: bool = False
    name: str = ""
    unit: str = "items"

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"figure {self.path}: better must be one of {BETTER}, got {self.better!r}")

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = _PLACEHOLDER.split(self.path)  # literal, name, literal, name, ...
        rx = "".join(re.escape(s) if i % 2 == 0 else f"(?P<{s}>.+?)" for i, s in enumerate(parts))
        return re.compile(rx + "$")

    def match(self, path: str) -> dict[str, str] | None:
        """The placeholders' values when ``path`` is this figure, else None."""
        m = self.pattern.match(path)
        return m.groupdict() if m else None

    def describe(self, path: str) -> str:
        """The meaning with the placeholders of ``path`` filled in."""
        return self.meaning.format_map(self.match(path) or {})

    def title(self, path: str) -> str:
        return self.name.format_map(self.match(path) or {}) if self.name else path


@dataclass(frozen=True)
class Point:
    """Where a family runs: a checkpoint, a pruning method and the requested sparsity (dense: 0)."""

    checkpoint: str
    method: str = DENSE
    sparsity: float = 0.0
    structure: str = "unstructured"

    @property
    def key(self) -> str:
        base = f"{self.checkpoint}/{self.method}/{self.sparsity:g}"
        return base if self.structure == "unstructured" or self.method == DENSE else f"{base}/{self.structure}"

    def sample_tags(self) -> dict:
        return {"checkpoint": self.checkpoint, "method": self.method, "sparsity": self.sparsity}

    def record_tags(self, actual_sparsity: float) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "method": self.method,
            "sparsity": round(actual_sparsity, 6),
            "requested_sparsity": self.sparsity,
        }


def lab_file(given: str | None, lab: Path | None, name: str, key: str) -> str:
    """A section's data file: the one given, else the lab's ``name``; neither is a one-line error."""
    if given:
        return given
    if lab is None:
        raise ConfigError(f"{key}: give a file (or lab: FOLDER to use the lab's {name})")
    return str(lab / name)


class PointSamples:
    """The rows of one samples file that belong to one point: units keyed and rows tagged by the point."""

    def __init__(self, log: UnitLog, point: Point) -> None:
        self.log, self.point = log, point
        self._prefix = point.key + "::"

    def has(self, unit: str) -> bool:
        return self.log.has(self._prefix + unit)

    def append(self, unit: str, rows: list[dict]) -> None:
        tags = self.point.sample_tags()
        self.log.append(self._prefix + unit, [{**r, **tags} for r in rows])

    def rows(self) -> list[dict]:
        tags = self.point.sample_tags()
        return [r for r in self.log.rows() if all(r.get(k) == v for k, v in tags.items()) and not r.get("_empty")]


@dataclass
class FamilyContext:
    """Everything a family gets at one point: the model as it is now (maybe pruned) and the sample store."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    point: Point
    actual_sparsity: float
    samples_dir: Path
    batch_size: int | None = None
    seed: int = 0
    logs: dict[str, UnitLog] = field(default_factory=dict)  # shared by the loop: each file is read once

    @property
    def tags(self) -> dict:
        return self.point.record_tags(self.actual_sparsity)

    def samples(self, name: str) -> PointSamples:
        if name not in self.logs:
            self.logs[name] = UnitLog(self.samples_dir / f"{name}.jsonl")
        return PointSamples(self.logs[name], self.point)


class Family(Protocol):
    """A registered probe family. ``prepare`` runs once before the model loads (data, validation);
    ``run`` once per point. ``section`` names the config section it reads.

    A family owns what its records mean: ``figures`` declares every figure it records (:class:`Figure`), and
    ``tree(rows, all_rows)`` builds its part of a point's figures tree from its records (``rows``: this
    family's records at the point; ``all_rows``: every checkpoint's records at the same point, for figures
    measured against another checkpoint). The report, summary.json, the terminal and the gate read only these."""

    name: str
    section: str
    needs: frozenset[str]
    figures: tuple[Figure, ...]

    def prepare(self, sections: Any, lab: Path | None) -> Any: ...

    def run(self, ctx: FamilyContext, data: Any) -> list[Record]: ...

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict: ...
