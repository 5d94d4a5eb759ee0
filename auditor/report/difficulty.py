"""The per-instance unlearning difficulty table of the report and of ``unlearning_difficulty.md`` / ``.json``.

Baluta et al. 2024; Sepahvand et al. 2025: how many steps of each gradient method's training (``auditor
unlearn-compare``) every forget example took to become unextractable and to reach the retrain oracle's loss,
binned by repeats and LM-EL2N tercile. Rendering only: the table is built from the ``unlearning_difficulty``
records by :mod:`auditor.unlearning.difficulty_table` (imported where used: the ``auditor.unlearning`` package
imports torch, which ``auditor --help`` must not).
"""

from __future__ import annotations

from pathlib import Path

from auditor.report.doc import Document, Paragraph, Section, Table, render_markdown
from auditor.report.records import load_rows
from auditor.store.atomic import atomic_write_json, atomic_write_text

DIFFICULTY = "unlearning_difficulty"
_STEP_COLUMNS = (
    ("median_steps_to_unextractable", "median steps to unextractable"),
    ("mean_steps_to_unextractable", "mean steps to unextractable"),
)
_DIFFICULTY_INTRO = (
    "Per-instance unlearning difficulty (Baluta et al. 2024; Sepahvand et al. 2025): during each gradient method's "
    "training ({every}) every forget example was checked for extractability (greedy decoding of its suffix after its "
    "prefix, VerbMem's split, reproduces it exactly) and its loss. Steps to unextractable: the first measured step "
    "from which on it stays unextractable (0 if never extractable); not reached = still extractable at the end "
    "(counted as more than the last step: a median there reads '> N', a mean is then a lower bound '> x'). Bins: "
    "each repeats value (or quartiles) and terciles of LM-EL2N (Paul et al. 2021)."
)
_NO_ORACLE = (
    "No retrain checkpoint: steps to oracle loss (the first step from which an example's loss stays at or above "
    "the retrain oracle's loss on it) needs one."
)
_BASE_EL2N = (
    "EL2N was scored with the base checkpoint before unlearning (difficulty_model not set): it measures how well "
    "the trained model fits each example, not early-training difficulty; set difficulty_model to an early "
    "checkpoint for that."
)


def read_difficulty_table(run: Path) -> dict:
    """:func:`auditor.unlearning.difficulty_table.difficulty_table` of the run's records (imported here, when
    used: the ``auditor.unlearning`` package imports torch, which ``auditor --help`` must not)."""
    from auditor.unlearning.difficulty_table import difficulty_table as build

    return build(load_rows(run))


def _difficulty_notes(table: dict) -> list[Paragraph]:
    from auditor.unlearning.difficulty_table import BASE_NOTE

    every = ", ".join(f"{m} every {i['every']} of {i['max_step']} steps" for m, i in table["methods"].items())
    out = [Paragraph(_DIFFICULTY_INTRO.format(every=every))]
    if not table["oracle"]:
        out.append(Paragraph(_NO_ORACLE, "muted"))
    model = table["el2n_model"]
    note = _BASE_EL2N if model == BASE_NOTE else f"EL2N was scored with difficulty_model {model}."
    out.append(Paragraph(note, "muted"))
    return out


def difficulty_blocks(table: dict) -> list:
    """The per-instance difficulty table (a paragraph of definitions, notes, the binned table, the findings)."""
    from auditor.unlearning.difficulty_table import steps_cell

    if not table["methods"]:
        return []
    blocks: list = _difficulty_notes(table)
    oracle = [("median_steps_to_oracle_loss", "median steps to oracle loss")] if table["oracle"] else []
    steps = [t for _, t in _STEP_COLUMNS]
    heads = ["method", "bin", "n", "ever extractable", *steps, "not reached", *[t for _, t in oracle]]
    rows = []
    for r in table["rows"]:
        top = table["methods"][r["method"]]["max_step"]
        cells = [steps_cell(r, k, top) for k, _ in _STEP_COLUMNS]
        more = [steps_cell(r, k, top) for k, _ in oracle]
        rows.append([r["method"], r["bin"], r["n"], r["ever_extractable"], *cells, r["not_reached"], *more])
    blocks.append(Table(heads, rows))
    blocks += [Paragraph(x) for x in table["sentences"]]
    return blocks


def write_difficulty_files(run: Path) -> Path | None:
    """``unlearning_difficulty.json`` (the table, correlations and sentences) and ``.md`` (as in the report) in the
    run folder, from its records; None (nothing written) when the run tracked no method."""
    table = read_difficulty_table(run)
    if not table["methods"]:
        return None
    atomic_write_json(run / f"{DIFFICULTY}.json", table)
    section = Section("Unlearning difficulty", difficulty_blocks(table))
    doc = Document("memaudit per-instance unlearning difficulty", [section])
    atomic_write_text(run / f"{DIFFICULTY}.md", render_markdown(doc))
    return run / f"{DIFFICULTY}.md"
