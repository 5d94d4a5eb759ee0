"""One probe, one point: ``auditor mia``, ``extract``, ``exposure`` and ``generate-extract`` as one-point plans.

A single-probe command builds its family's data from its flags, then runs the one loop
(:func:`auditor.pipeline.loop.run_points`) with a single dense :class:`~auditor.pipeline.loop.Step`, so its
records, samples and resume are exactly a sweep's: one records unit ``<checkpoint>/dense/0/<family>``, and the
family's per-example rows in resumable units of ``samples/<name>.jsonl`` tagged with the point. The file the
command is known for (``mia.json``, ``extraction.json``, ``exposure.json``, ``untargeted.json``) is written
afterwards by the summaries step, from those records and samples only, so it always says what they say.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from auditor.errors import ConfigError, InputError, RunDirError
from auditor.family import DENSE, Point
from auditor.models.load import LoadedModel
from auditor.pipeline.guards import guarded
from auditor.pipeline.loop import Pruners, Step, run_points
from auditor.probes.extraction.exposure_runner import summarize_exposure
from auditor.probes.extraction.family import ExtractionData, UntargetedData
from auditor.probes.extraction.items import as_rows, row_ids
from auditor.probes.extraction.summary import given_of, summarize
from auditor.probes.extraction.untargeted import summarize_untargeted
from auditor.probes.mia.figures import mia_tree
from auditor.store.runs import RECORDS, RunDir, atomic_write_json, log_rows, parse_units


class DensePoint(Pruners):
    """The one-point plan's pruners: the model as loaded, never pruned. The point records the model's measured
    sparsity where its layers can be read; an offloaded or quantized model (which no pruning touches) records 0."""

    def at(self, method: str, sparsity: float) -> AbstractContextManager[dict]:
        try:
            return super().at(method, sparsity)
        except (ConfigError, InputError):  # layers on the meta device, quantized, or none prunable
            return nullcontext({"overall": 0.0})


def refuse_old_layout(run: RunDir) -> None:
    """A folder the single-probe commands wrote before they ran through the loop keeps its records in units the
    loop does not know (``mia-metrics-...``); resuming it would record every figure twice."""
    old = sorted(u for u in parse_units(run.path / RECORDS)[1] if "/" not in u)
    if old:
        raise RunDirError(
            f"{run.path} was written by an older memaudit (records unit {old[0]!r}); use --overwrite or a new --out"
        )


def run_probe(
    lm: LoadedModel,
    run: RunDir,
    family: str,
    data: Any,
    *,
    checkpoint: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
) -> dict:
    """Run (or resume) ``family`` on ``data`` at the dense point of ``lm`` through the one loop, then write the
    family's ``NAME.json`` from what the loop recorded; returns that summary. ``checkpoint``: the label of the
    records (default: the model's source). The family's guard (:mod:`auditor.pipeline.guards`) runs first: texts
    in both members and non-members are dropped from both before any is scored."""
    data = guarded(family, data)
    refuse_old_layout(run)
    label = checkpoint or lm.source
    steps = [Step(DENSE, 0.0, (family,))]
    run_points(lm, run, label, steps, {family: data}, DensePoint(lm, lambda: None), batch_size=batch_size, seed=seed)
    return write_probe_summary(run, family, data, Point(label))


# ---------------------------------------------------------------- the summaries step


def point_rows(run: RunDir, samples: str, point: Point) -> list[dict]:
    """The rows of ``samples/<samples>.jsonl`` measured at ``point``."""
    tags = point.sample_tags()
    rows = log_rows(run.path / "samples" / f"{samples}.jsonl")
    return [r for r in rows if all(r.get(k) == v for k, v in tags.items())]


def point_records(run: RunDir, family: str, point: Point) -> list[dict]:
    """The records of ``family`` at ``point``, in the order they were written."""
    where = {"family": family, "checkpoint": point.checkpoint, "method": point.method}
    rows = [r for r in run.all_records() if all(r.get(k) == v for k, v in where.items())]
    return [r for r in rows if (r.get("requested_sparsity") or 0.0) == point.sparsity]


def _mia(run: RunDir, point: Point, data: Any) -> dict:
    """``mia.json``: the records read as the report reads them; the texts cut to ``max_tokens`` in the manifest."""
    truncated = sum(bool(r.get("truncated")) for r in point_rows(run, "mia_scores", point))
    if truncated or "mia_truncated_texts" in run.manifest:
        run.update_manifest(mia_truncated_texts=truncated)
    return mia_tree(point_records(run, "mia", point))


def _extraction(run: RunDir, point: Point, data: ExtractionData) -> dict:
    """``extraction.json``: the aggregates of the scored rows, against the texts given (scored or too short)."""
    rows, cfg = as_rows(data.texts), data.config.resolved()
    wanted = set(row_ids(rows, cfg.id_column))
    scored = [r for r in point_rows(run, "extraction", point) if r["id"] in wanted]
    return summarize(scored, cfg, given_of(rows, cfg))


def _exposure(run: RunDir, point: Point, data: Any) -> dict:
    """``exposure.json``: the aggregates of the per-canary rows."""
    return summarize_exposure(point_rows(run, "exposure", point))


def _untargeted(run: RunDir, point: Point, data: UntargetedData) -> dict:
    """``untargeted.json``: the rankings' verbatim counts over the samples, in sample order."""
    return summarize_untargeted(sorted(point_rows(run, "untargeted", point), key=lambda r: r["id"]), data.config)


SUMMARIES: dict[str, Callable[[RunDir, Point, Any], dict]] = {
    "mia": _mia,
    "extraction": _extraction,
    "exposure": _exposure,
    "untargeted": _untargeted,
}


def write_probe_summary(run: RunDir, family: str, data: Any, point: Point) -> dict:
    """``RUN/<family>.json`` rebuilt from the records and samples of ``family`` at ``point``; returns it."""
    if family not in SUMMARIES:
        raise ConfigError(f"family {family!r} has no single-probe summary; use one of: {', '.join(SUMMARIES)}")
    result = SUMMARIES[family](run, point, data)
    atomic_write_json(run.path / f"{family}.json", result)
    return result
