"""Capability families at one point: ``fact_recall``, ``open_book``, ``overriding``, ``icl_classification``
(Jin et al. 2024, "The cost of down-scaling language models", ICLR 2024) and ``lm_eval:<task>``.

Tasks are built once in ``prepare`` (model-independent: from the lab, real facts or the user's files);
``run`` evaluates them on the model as it is at the point. Per-item rows go to ``samples/capability``.
"""

from __future__ import annotations

from pathlib import Path

from auditor.capability.builders import CapabilityConfig
from auditor.capability.figures import capability_figures, capability_tree
from auditor.capability.runner import CapabilitySuite
from auditor.errors import ConfigError
from auditor.family import FamilyContext
from auditor.store.runs import Record


class CapabilityFamily:
    """One capability family (native evaluator, or lm-eval's HFLM for ``lm_eval:<task>``)."""

    section = "capability"
    samples = "capability"

    def __init__(self, name: str) -> None:
        self.name = name
        lm_eval = name.startswith("lm_eval:")
        self.needs = frozenset({"lm_eval"} if lm_eval else {"generate", "loglik", "tasks"})
        self.figures = capability_figures(name)

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        return capability_tree(rows)

    def prepare(self, sections: object, lab: Path | None) -> CapabilitySuite:
        cfg: CapabilityConfig = sections.capability  # type: ignore[attr-defined]
        native = not self.name.startswith("lm_eval:") and self.name not in cfg.files
        if native and (cfg.source or ("lab" if lab else "real")) == "lab" and lab is None:
            raise ConfigError("capability.source: lab needs lab: FOLDER (or capability.source: real)")
        return CapabilitySuite([self.name], cfg, lab)

    def run(self, ctx: FamilyContext, data: CapabilitySuite) -> list[Record]:
        data.batch_size = ctx.batch_size or 16
        samples = ctx.samples(self.samples)  # opened before the work, like every family's samples
        recs, rows = data.evaluate(self.name, ctx.model, ctx.tokenizer, ctx.tags)
        if not samples.has(self.name):
            samples.append(self.name, rows)
        return recs


def lm_eval_family(task: str) -> CapabilityFamily:
    """The family ``lm_eval:<task>`` (any lm-eval task, or a shipped ``memaudit_*`` one)."""
    return CapabilityFamily(f"lm_eval:{task}")
