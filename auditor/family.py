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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError
from auditor.store.runs import Record, UnitLog

DENSE = "dense"


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
    ``run`` once per point. ``section`` names the config section it reads."""

    name: str
    section: str
    needs: frozenset[str]

    def prepare(self, sections: Any, lab: Path | None) -> Any: ...

    def run(self, ctx: FamilyContext, data: Any) -> list[Record]: ...
