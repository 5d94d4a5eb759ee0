"""Per-instance unlearning difficulty in a comparison run: per-example records, written as resumable units.

Baluta et al. 2024 and Sepahvand et al. 2025 (see :mod:`auditor.unlearning.difficulty`). Family
``unlearning_difficulty``; one record per (method, forget example, criterion), ``task`` = the example's id:

* ``steps_to_unextractable`` (checkpoint = the method), value = steps or null (not reached);
  ``extra``: ``reached`` (null: too short for the prefix/suffix split), ``ever_extractable``,
  ``first_unextractable``, ``repeats`` (the forget row's field, if any), ``el2n``, ``el2n_model``,
  ``loss_start``, ``loss_end``, ``max_step``, ``every``, ``prefix_len``, ``suffix_len``;
* ``steps_to_oracle_loss`` (only with a retrain checkpoint): the same ``extra`` plus ``oracle_loss``;
* the references, written once: ``oracle_loss`` (checkpoint ``retrain``: :func:`auditor.lm.scoring.mean_nll`
  of each forget text under the retrain oracle) and ``el2n`` (checkpoint ``base``: LM-EL2N, Paul et al.
  2021, :func:`auditor.lm.scoring.mean_el2n`, under ``difficulty_model``, by default the base checkpoint
  before unlearning; ``extra.model`` names it).

Each is one unit of ``records.jsonl`` (``difficulty/<reference>``, ``difficulty/<method>``), so a crash
loses at most the unit in flight and a resumed run never duplicates a row. A method's rows are built from
the trajectory its tracker saved beside the unlearned checkpoint (``difficulty.json``, written with it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.inputs.data import TextSet
from auditor.lm.scoring import mean_el2n, mean_nll
from auditor.models.load import LoadedModel
from auditor.probes.extraction.items import row_repeats
from auditor.registry import Registry
from auditor.store.runs import Record, RunDir
from auditor.unlearning.base import UNLEARNERS
from auditor.unlearning.difficulty import DifficultySettings, trajectory_difficulty
from auditor.unlearning.difficulty_table import BASE_NOTE, CRITERIA, FAMILY
from auditor.unlearning.runner import TRAJECTORY_FILE

log = logging.getLogger(__name__)

Scorer = Callable[[PreTrainedModel, PreTrainedTokenizerBase, Sequence[str], int | None], list[float]]
# reference metric -> the per-text statistic it records
REFERENCES: Registry[Scorer] = Registry("difficulty reference", {"oracle_loss": mean_nll, "el2n": mean_el2n})


@dataclass(frozen=True)
class Source:
    """Where a reference comes from: ``metric`` (a REFERENCES name) is scored by the checkpoint loaded as
    ``label``, recorded under checkpoint ``record_as``, with ``model`` naming it in ``extra.model``."""

    metric: str
    label: str
    record_as: str
    model: str


@dataclass(frozen=True)
class DifficultyPlan:
    """What a comparison run tracks: the iterative methods, the settings, the forget set (with each row's
    ``repeats``, None where absent) and the references' sources (``oracle_loss`` only with a retrain model)."""

    methods: tuple[str, ...]
    settings: DifficultySettings
    forget: TextSet
    repeats: tuple[int | None, ...]
    sources: tuple[Source, ...]

    @property
    def el2n_model(self) -> str:
        return next((s.model for s in self.sources if s.metric == "el2n"), BASE_NOTE)


def tracked(methods: Sequence[str], every: int) -> tuple[str, ...]:
    """The methods whose training is tracked: every iterative one (the method says so), unless every = 0."""
    return tuple(m for m in methods if every > 0 and getattr(UNLEARNERS.get(m), "iterative", False))


def make_plan(
    methods: Sequence[str],
    settings: DifficultySettings,
    forget: TextSet,
    forget_rows: list[dict],
    *,
    has_retrain: bool,
    difficulty_model: str | None,
) -> DifficultyPlan:
    """The plan of a comparison run: ``forget_rows`` (the forget file's rows, in file order) give ``repeats``;
    the oracle is the ``retrain`` checkpoint; EL2N is scored with ``difficulty_model`` or else the base."""
    el2n = Source("el2n", "difficulty_model", "base", difficulty_model) if difficulty_model else None
    sources = [Source("oracle_loss", "retrain", "retrain", "retrain")] if has_retrain else []
    sources.append(el2n or Source("el2n", "base", "base", BASE_NOTE))
    reps = row_repeats(forget_rows, "repeats") if len(forget_rows) == len(forget) else [None] * len(forget)
    return DifficultyPlan(tuple(methods), settings, forget, tuple(reps), tuple(sources))


def _unit(name: str) -> str:
    return f"difficulty/{name}"


def measure_references(run: RunDir, plan: DifficultyPlan, lm: LoadedModel, label: str, batch_size: int | None) -> None:
    """Score the references that checkpoint ``label`` provides (each once: a unit already written is skipped)."""
    for src in plan.sources:
        if src.label != label or run.done(_unit(src.metric)):
            continue
        values = REFERENCES.get(src.metric)(lm.model, lm.tokenizer, plan.forget.texts, batch_size)
        recs = [
            Record(FAMILY, i, src.metric, float(v), checkpoint=src.record_as, extra={"model": src.model})
            for i, v in zip(plan.forget.ids, values, strict=True)
        ]
        run.write(_unit(src.metric), recs)


def _reference(run: RunDir, metric: str) -> dict[str, float] | None:
    rows = [r for r in run.all_records() if r["family"] == FAMILY and r["metric"] == metric]
    return {str(r["task"]): float(r["value"]) for r in rows} if rows else None


def method_records(
    method: str, trajectory: dict, plan: DifficultyPlan, oracle: dict | None, el2n: dict
) -> list[Record]:
    """A method's per-example records from its trajectory and the references (see the module docstring)."""
    repeats = dict(zip(plan.forget.ids, plan.repeats, strict=True))
    out = []
    for ex in trajectory_difficulty(trajectory, oracle):
        measurable = ex.ever_extractable is not None
        extra = {k: v for k, v in asdict(ex).items() if k not in ("id", *CRITERIA)}
        extra |= {"repeats": repeats.get(ex.id), "el2n": el2n.get(ex.id), "el2n_model": plan.el2n_model}
        extra |= {k: trajectory[k] for k in ("max_step", "every", "prefix_len", "suffix_len")}
        reached = ex.steps_to_unextractable is not None if measurable else None
        out.append(
            Record(
                FAMILY,
                ex.id,
                "steps_to_unextractable",
                ex.steps_to_unextractable,
                checkpoint=method,
                extra=extra | {"reached": reached},
            )
        )
        if oracle is not None:
            hit = ex.steps_to_oracle_loss is not None if ex.oracle_loss is not None else None
            out.append(
                Record(
                    FAMILY,
                    ex.id,
                    "steps_to_oracle_loss",
                    ex.steps_to_oracle_loss,
                    checkpoint=method,
                    extra=extra | {"reached": hit},
                )
            )
    return out


def finish(
    run: RunDir,
    plan: DifficultyPlan,
    load: Callable[[str], LoadedModel],
    folders: dict[str, Path],
    batch_size: int | None,
) -> None:
    """Score the references not yet recorded (``load(label)`` loads a checkpoint once), then write each tracked
    method's unit from the trajectory in its checkpoint folder (``folders[method]``)."""
    pending = [m for m in plan.methods if not run.done(_unit(m))]
    for src in plan.sources if pending else ():
        if not run.done(_unit(src.metric)):
            lm = load(src.label)
            measure_references(run, plan, lm, src.label, batch_size)
            del lm
    oracle, el2n = _reference(run, "oracle_loss"), _reference(run, "el2n") or {}
    for method in pending:
        path = folders[method] / TRAJECTORY_FILE
        if not path.is_file():
            log.warning(
                "%s: no %s (checkpoint made without tracking); no difficulty rows for %s",
                folders[method],
                TRAJECTORY_FILE,
                method,
            )
            run.write(_unit(method), [])
            continue
        trajectory = json.loads(path.read_text(encoding="utf-8"))
        run.write(_unit(method), method_records(method, trajectory, plan, oracle, el2n))
