"""Capability families at one point of a sweep: tasks built once, evaluated on the (pruned) model, as records.

Families: ``fact_recall``, ``open_book``, ``overriding``, ``icl_classification`` (native evaluator,
:mod:`auditor.capability.evaluate`) and ``lm_eval:<task>`` (any lm-eval task, or a shipped
``memaudit_*`` one, through :mod:`auditor.capability.lmeval`). Each family gives a record
``(family, task, "accuracy", value, n, Wilson 95% CI)``; ``icl_classification`` adds
``accuracy_0shot``, ``gain_over_0shot`` and ``accuracy_calibrated``, ``overriding`` adds
``memorized_rate``. Records carry ``extra.capability = true`` (so the lab family's own fact-recall
records are kept apart).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.capability.builders import CapabilityConfig, build_task
from auditor.capability.evaluate import evaluate_task
from auditor.capability.lmeval import PREFIX, absolute_copy_of_shipped, check_lm_eval_tasks, run_lm_eval
from auditor.capability.schema import FAMILIES, Task
from auditor.errors import ConfigError
from auditor.stats.intervals import proportion_ci
from auditor.store.runs import Record

log = logging.getLogger(__name__)

LM_EVAL = "lm_eval:"


def is_capability_family(family: str) -> bool:
    return family in FAMILIES or family.startswith(LM_EVAL)


def check_family_names(families: tuple[str, ...] | list[str]) -> None:
    """Syntax only (cheap): capability family names and non-empty ``lm_eval:<task>`` names."""
    for f in families:
        if f.startswith(LM_EVAL) and not f[len(LM_EVAL) :].strip():
            raise ConfigError(f"families: {f!r} names no task; write lm_eval:TASK, e.g. lm_eval:hellaswag")


class CapabilitySuite:
    """The capability families of a sweep: tasks built once (model-independent), evaluated per point."""

    def __init__(
        self, families: list[str], cfg: CapabilityConfig, lab: str | Path | None = None, batch_size: int | None = None
    ) -> None:
        self.cfg, self.batch_size = cfg, batch_size or 16
        self.families = [f for f in families if is_capability_family(f)]
        self.tasks: dict[str, Task] = {f: build_task(f, cfg, lab) for f in self.families if f in FAMILIES}
        self.lm_eval_names = [f[len(LM_EVAL) :] for f in self.families if f.startswith(LM_EVAL)]
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._manager = None
        if self.lm_eval_names:
            check_lm_eval_tasks(self.lm_eval_names)

    def describe(self) -> dict:
        """Task names, sources and sizes (for the manifest)."""
        out = {f: {"task": t.name, "source": t.source, "n": len(t.items)} for f, t in self.tasks.items()}
        out.update({LM_EVAL + n: {"task": n, "limit": self.cfg.limit} for n in self.lm_eval_names})
        return out

    def _include_path(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="memaudit-lm-eval-")
            absolute_copy_of_shipped(self._tmp.name)
        return Path(self._tmp.name)

    def _task_manager(self):
        if self._manager is None:
            from lm_eval.tasks import TaskManager

            defaults = any(not n.startswith(PREFIX) for n in self.lm_eval_names)
            self._manager = TaskManager(include_path=str(self._include_path()), include_defaults=defaults)
        return self._manager

    def evaluate(
        self, family: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tags: dict
    ) -> tuple[list[Record], list[dict]]:
        """Records and per-item rows of one family on the model as it is now."""
        if family.startswith(LM_EVAL):
            name = family[len(LM_EVAL) :]
            how = {"limit": self.cfg.limit, "batch_size": self.batch_size, "task_manager": self._task_manager()}
            res = run_lm_eval(model, tokenizer, [name], **how)[name]
            ci = proportion_ci(round(res.accuracy * res.n), res.n) if res.n else None
            extra = {"capability": True, "lm_eval_metric": res.metric}
            rec = Record(family, name, "accuracy", res.accuracy, n=res.n, ci=ci, extra=extra, **tags)
            rows = [{"id": str(i), "family": family, "correct": c} for i, c in sorted(res.per_item.items())]
            return [rec], rows
        task = self.tasks[family]
        r = evaluate_task(model, tokenizer, task, self.cfg.max_new_tokens, self.batch_size)
        extra = {"capability": True, "source": task.source}
        extra.update({k: r.extras[k] for k in ("shots", "shots_min", "shots_reduced")})

        def rec(metric: str, value: float, ci: tuple[float, float] | None = None) -> Record:
            return Record(family, task.name, metric, value, n=r.n, ci=ci, extra=extra, **tags)

        recs = [rec("accuracy", r.accuracy, r.ci)]
        if "accuracy_0shot" in r.extras:
            ci0 = proportion_ci(r.extras["correct_0shot"], r.n)
            recs.append(rec("accuracy_0shot", r.extras["accuracy_0shot"], ci0))
            recs.append(rec("gain_over_0shot", r.extras["gain_over_0shot"]))
            cic = proportion_ci(r.extras["correct_calibrated"], r.n)
            recs.append(rec("accuracy_calibrated", r.extras["accuracy_calibrated"], cic))
        if "memorized_rate" in r.extras:  # k of n items: the Wilson (1927) interval, as the accuracies
            mem = r.extras["memorized_rate"]
            recs.append(rec("memorized_rate", mem, proportion_ci(round(mem * r.n), r.n)))
        rows = [{"family": family, **row} for row in r.items]
        return recs, rows

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
