"""The one loop: for each point (dense first, then each method and sparsity), prune in memory, run the
families not yet recorded there, record; the weights are restored when a method's points end.

``sweep``, ``audit`` and ``unlearn-compare`` all call :func:`run_points`. Each (point, family) is one
resumable unit of the run directory (its records in one fsync'd append); a family's per-example rows
are appended in its own smaller units through ``ctx.samples``, so a killed run resumes inside a family.
Pruning comes from :class:`auditor.pruning.engine.Pruning`: scores are ranked once per method, and a method's
points run in one pruning session, so each point of a ranked method (magnitude, ``wanda_nested``) zeroes only
the weights it adds to the one before; the weights are restored bit-exactly before the next method, and at
the end (even after an error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase

import auditor.store.parallel as parallel
import auditor.store.progress as progress
from auditor.families import FAMILIES
from auditor.family import DENSE, FamilyContext, Point
from auditor.models.load import LoadedModel
from auditor.pipeline.guards import guarded, with_dropped
from auditor.pruning import PRUNERS, PruneSpec
from auditor.pruning.apply import sparsity_report
from auditor.pruning.engine import Pruning, select_targets
from auditor.store.runs import RunDir, UnitLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """Families to run at one (method, requested sparsity) of a checkpoint."""

    method: str
    sparsity: float
    families: tuple[str, ...]


def plan(
    dense_families: Sequence[str], methods: Sequence[str], sparsities: Sequence[float], families: Sequence[str]
) -> list[Step]:
    """The dense point first (with ``dense_families``), then every method x sparsity > 0 with ``families``."""
    steps = [Step(DENSE, 0.0, tuple(dense_families))] if dense_families else []
    for m in methods:
        steps += [Step(m, s, tuple(families)) for s in sorted(set(sparsities)) if s > 0 and families]
    return steps


def prepare_families(names: Sequence[str], sections: object, lab: Any) -> dict[str, Any]:
    """Each family's data, loaded and validated once (then through its guard, :mod:`auditor.pipeline.guards`),
    before the model (bad input fails fast); the data of the families prepared so far are closed when one fails."""
    data: dict[str, Any] = {}
    try:
        for name in dict.fromkeys(names):
            data[name] = guarded(name, FAMILIES.get(name).prepare(sections, lab))
    except BaseException:
        close_data(data)
        raise
    return data


def check_families(data: dict[str, Any], tokenizer: Callable[[], PreTrainedTokenizerBase]) -> None:
    """Each prepared family's own ``check(data, tokenizer)``, where it has one (extraction: some text is long
    enough for prefix + suffix), before the model loads; ``tokenizer`` (the checkpoint's, loaded alone) is
    called only when a family has a check."""
    checks = [(name, fn) for name in data if callable(fn := getattr(FAMILIES.get(name), "check", None))]
    tok = tokenizer() if checks else None
    for name, fn in checks:
        fn(data[name], tok)


def pruning_methods(steps: Sequence[Step]) -> list[str]:
    """The pruning methods the steps run (the dense point is none)."""
    return list(dict.fromkeys(s.method for s in steps if s.method != DENSE))


def close_data(data: dict[str, Any]) -> None:
    for d in data.values():
        close = getattr(d, "close", None)
        if callable(close):
            close()


def unit(point: Point, family: str) -> str:
    return f"{point.key}/{family}"


@dataclass
class Pruners:
    """One :class:`Pruning` per method, prepared on first use (calibration rows computed lazily)."""

    lm: LoadedModel
    calibration: Callable[[], list | None]
    structure: str = "unstructured"
    granularity: str | None = None

    def __post_init__(self) -> None:
        self._by_method: dict[str, Pruning] = {}
        self._rows: list | None = None
        self._session: tuple[str, ExitStack] | None = None  # the method whose pruning session is open

    def release(self) -> None:
        """End the open pruning session: the model's original weights are back."""
        if self._session is not None:
            _, stack = self._session
            self._session = None
            stack.close()

    def at(self, method: str, sparsity: float) -> AbstractContextManager[dict]:
        if self._session is not None and self._session[0] != method:
            self.release()  # the dense point and every method start from the original weights
        if method == DENSE:
            return nullcontext(sparsity_report(select_targets(self.lm.model, PruneSpec(sparsity=0.0))))
        if method not in self._by_method:
            rows = None
            if getattr(PRUNERS.get(method), "needs_calibration", False):
                self._rows = self._rows if self._rows is not None else self.calibration()
                rows = self._rows
            log.info("[%s] preparing scores", method)
            self._by_method[method] = Pruning(
                self.lm.model, method, rows, PruneSpec(sparsity=0.0), share=parallel.broadcast_tensors
            )
        if self._session is None:
            stack = ExitStack()
            stack.enter_context(self._by_method[method].session())
            self._session = (method, stack)
        spec = PruneSpec(sparsity=sparsity, structure=self.structure, granularity=self.granularity)
        return self._by_method[method].at(spec)


def run_points(
    lm: LoadedModel,
    run: RunDir,
    checkpoint: str,
    steps: Sequence[Step],
    data: dict[str, Any],
    pruners: Pruners,
    *,
    batch_size: int | None = None,
    seed: int = 0,
) -> int:
    """Run every step's families that ``run`` has not recorded yet; returns how many units were measured.

    Logs ``step k/n: [checkpoint method sparsity (actual ...)] family, elapsed ...`` as each (point, family)
    starts; k counts the recorded ones too, so a resumed run shows where it is in the whole plan."""
    done, first, total, t0 = 0, 0, sum(len(s.families) for s in steps), progress.clock()
    logs: dict[str, UnitLog] = {}  # samples files, read once for the whole loop
    try:
        for step in steps:
            point = Point(checkpoint, step.method, step.sparsity, pruners.structure)
            todo = [f for f in step.families if not run.done(unit(point, f))]
            with pruners.at(step.method, step.sparsity) if todo else nullcontext({}) as rep:
                for name in todo:
                    k = first + step.families.index(name) + 1
                    elapsed = progress.format_seconds(progress.clock() - t0)
                    log.info(
                        "step %d/%d: [%s %s %.2f (actual %.4f)] %s, elapsed %s",
                        k,
                        total,
                        checkpoint,
                        step.method,
                        step.sparsity,
                        rep["overall"],
                        name,
                        elapsed,
                    )
                    ctx = FamilyContext(
                        lm.model,
                        lm.tokenizer,
                        point,
                        rep["overall"],
                        run.path / "samples",
                        batch_size=batch_size,
                        seed=seed,
                        logs=logs,
                    )
                    records = FAMILIES.get(name).run(ctx, data[name])
                    run.write(unit(point, name), with_dropped(records, data[name]))
                    done += 1
            first += len(step.families)
    finally:
        pruners.release()  # the original weights back, whatever happened
    return done


def points_summary(records: list[dict]) -> list[dict]:
    """Every measured point, from the records: ``checkpoint, method, requested, actual`` (dense first)."""
    seen: dict[tuple, dict] = {}
    for r in records:
        req = r.get("requested_sparsity")
        key = (r.get("checkpoint"), r.get("method"), 0.0 if req is None else req)
        seen.setdefault(key, {"checkpoint": key[0], "method": key[1], "requested": key[2], "actual": r["sparsity"]})
    order = lambda p: (str(p["checkpoint"]), p["method"] != DENSE, p["method"], p["requested"])  # noqa: E731
    return sorted(seen.values(), key=order)
