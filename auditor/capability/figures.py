"""What a capability family's figures mean, and its part of a point's figures tree:
``capability.<family>.accuracy`` (with ``_ci``, ``_n``) and Jin et al.'s ``threshold_5pct.<method>``, the
largest sparsity within 5% of the dense accuracy (Jin et al. 2024, "The cost of down-scaling language
models: fact recall deteriorates before in-context learning", ICLR 2024)."""

from __future__ import annotations

from auditor.family import Figure
from auditor.store.record_tree import put

NAMES = {"fact_recall": "fact recall", "open_book": "open-book QA", "overriding": "context overriding",
         "icl_classification": "ICL classification"}  # fmt: skip
HEADLINE = ("fact_recall", "icl_classification")


def capability_figures(family: str) -> tuple[Figure, ...]:
    """The figures of one capability family (``family`` may be a pattern, e.g. ``lm_eval:<task>``)."""
    what = NAMES.get(family, family.replace("_", " "))
    return (
        Figure(
            f"capability.{family}.accuracy",
            f"Share of {what} items answered correctly: what pruning or unlearning must keep.",
            better="higher",
            headline=family in HEADLINE,
            name=f"{what} accuracy",
        ),
        Figure(
            f"capability.{family}.threshold_5pct.<method>",
            "Largest sparsity at which accuracy stays within 5% of the unpruned model (Jin et al. 2024).",
            better="higher",
            name=f"{what}: sparsity within 5% ({{method}})",
        ),
        Figure(f"capability.{family}.<metric>", f"A further {what} figure ({{metric}}).", better="higher"),
    )


def capability_tree(rows: list[dict]) -> dict:
    """``{"capability": {family: {"accuracy", "accuracy_ci", "accuracy_n", "n", "task", other metrics}}}``."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["family"], {})
        put(entry, r["metric"], r)
        if r["metric"] == "accuracy":
            entry["n"] = r.get("n")
            entry["task"] = r.get("task")
    return {"capability": out} if out else {}


def is_capability(row: dict) -> bool:
    """Whether a record is a capability family's (native or ``lm_eval:<task>``)."""
    fam = str(row.get("family", ""))
    return bool((row.get("extra") or {}).get("capability")) or fam in NAMES or fam.startswith("lm_eval:")
