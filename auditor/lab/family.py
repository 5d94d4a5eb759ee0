"""The ``lab`` family: the synthetic lab's ground-truth figures at one point (fact recall, open-book and
overriding QA, in-context classification, LOSS member AUC, canary extraction by repeats), each a record
``(family "lab", task <figure>, metric "value")``."""

from __future__ import annotations

from pathlib import Path

from auditor.errors import ConfigError
from auditor.family import FamilyContext, Figure
from auditor.lab.build import load_lab_files
from auditor.lab.evaluate import lab_figures
from auditor.store.record_tree import put
from auditor.store.runs import Record

_N = {
    "fact_recall": "facts",
    "open_book": "open_book",
    "overriding": "overriding",
    "icl_classification": "icl_classification",
    "overriding_answered_memorized": "overriding",
}
_TRUTH = "the lab's ground truth"
LAB_FIGURES: tuple[Figure, ...] = (
    Figure("lab.loss_auc", f"LOSS AUC of the lab's members against its non-members ({_TRUTH}).", name="lab LOSS AUC"),
    Figure("lab.<which>_mean_nll", "Mean negative log-likelihood per token of the lab's {which} texts.",
           better="higher", range=(0.0, float("inf"))),
    Figure("lab.canary_exact@repeats=<repeats>", "Share of the lab's canaries seen {repeats} times completed "
           "verbatim.", unit="canaries"),
    Figure("lab.canary_exact@<which>", "Share of the lab's canaries ({which} repeats) completed verbatim.",
           unit="canaries"),
    Figure("lab.overriding_answered_memorized", "Share of overriding items answered with the memorized fact "
           "instead of the context's.", unit="items"),
    Figure("lab.<task>", "Accuracy of the lab's {task} items (" + _TRUTH + ").", better="higher", unit="items"),
)  # fmt: skip


def lab_figure_records(figs: dict, files: dict[str, list[dict]], tags: dict) -> list[Record]:
    """Every scalar figure as a record; ``canary_exact_by_repeats`` as ``canary_exact@repeats=R``."""
    out = []
    for key, v in figs.items():
        if isinstance(v, dict):
            for rep, x in v.items():
                extra = {"repeats": int(rep)}
                out.append(Record("lab", f"canary_exact@repeats={rep}", "value", x, extra=extra, **tags))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            n = len(files[_N[key]]) if key in _N else None
            out.append(Record("lab", key, "value", float(v), n=n, **tags))
    return out


class LabFamily:
    """Family ``lab`` (needs ``lab: FOLDER``)."""

    name = "lab"
    section = "lab"
    needs = frozenset({"lab", "loglik"})
    samples = None
    figures = LAB_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        out: dict = {}
        for r in rows:
            put(out, r["task"], r)
        return {"lab": out} if out else {}

    def prepare(self, sections: object, lab: Path | None) -> dict[str, list[dict]]:
        if lab is None:
            raise ConfigError("families: 'lab' needs lab: FOLDER (a lab built by `auditor lab build`, or standard)")
        return load_lab_files(lab)

    def run(self, ctx: FamilyContext, data: dict[str, list[dict]]) -> list[Record]:
        figs = lab_figures(ctx.model, ctx.tokenizer, data, batch_size=ctx.batch_size or 64)
        return lab_figure_records(figs, data, ctx.tags)
