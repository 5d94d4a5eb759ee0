"""The unlearning comparison's section of the report, from records and ``samples/unlearning.jsonl``.

Table and bar chart per metric (``unlearning.<label>`` of the figures; MUSE's VerbMem, KnowMem and PrivLeak,
TOFU's truth ratio, forget quality and model utility: :mod:`auditor.unlearning.measures`; MUSE: Shi et al. 2024,
arXiv:2407.06460; TOFU: Maini et al. 2024, arXiv:2401.06121), the onion check (Carlini et al. 2022: retain texts
more exposed than on the base model, from the per-text samples, counted by :mod:`auditor.unlearning.compare` as
the pipeline's ``unlearning.json`` is) and the resurfacing check (forget-set VerbMem / KnowMem at the pruned points
of every checkpoint), and the per-instance unlearning difficulty table (:mod:`auditor.report.difficulty`).
Rendering only: every figure here is computed elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from auditor.report.difficulty import difficulty_blocks, read_difficulty_table
from auditor.report.doc import Paragraph, Section, Table
from auditor.report.plots import plot_bars, plot_lines, plot_path
from auditor.report.records import is_dense, load_rows
from auditor.report.sections import image

COLUMNS = (
    ("verbmem_forget", "VerbMem forget"),
    ("verbmem_forget_edit", "VerbMem forget (edit sim.)"),
    ("knowmem_forget", "KnowMem forget"),
    ("knowmem_retain", "KnowMem retain"),
    ("forget_auc", "forget AUC"),
    ("privleak", "PrivLeak %"),
    ("truth_ratio_forget", "forget truth ratio"),
    ("forget_quality", "forget quality"),
    ("model_utility", "model utility"),
    ("holdout_ppl", "holdout ppl"),
    ("fact_recall", "fact recall"),
    ("open_book", "open-book"),
    ("overriding", "overriding"),
    ("icl_classification", "ICL class."),
)
RESURFACING = {"verbmem_forget": "resurfacing: forget VerbMem after pruning", "knowmem_forget": "forget KnowMem"}
ONION_HEADERS = ["checkpoint", "retain texts", "MIA percentile up", "VerbMem up", "either", "mean percentile change"]


def onion_rows(rows: list[dict], labels: list[str], margin: float, base: str = "base") -> list[list]:
    """Per checkpoint other than ``base`` measured on the same retain texts: retain texts whose MIA percentile or
    VerbMem rose by > ``margin`` (:func:`auditor.unlearning.compare.onion_table`, the function the pipeline writes
    ``unlearning.json`` with; imported here, when used: the ``auditor.unlearning`` package imports torch)."""
    from auditor.unlearning.compare import ONION_KEYS, onion_table

    table = onion_table(rows, labels, margin, base)
    return [[lb, *[o[k] for k in ONION_KEYS]] for lb, o in table.items() if o["n_retain"]]


def _resurfacing(figs: dict, table: dict) -> tuple[dict, list[float]]:
    """``({metric: {label: [(sparsity, value), ...]}}, sparsities)`` over every method's pruned points."""
    lines: dict[str, dict[str, list]] = {k: {} for k in RESURFACING}
    sparsities: set[float] = set()
    for method, pts in figs.get("points", {}).items():
        for s, tree in pts.items():
            for lb, row in tree.get("unlearning", {}).items():
                name = lb if len(figs["points"]) == 1 else f"{lb} ({method})"
                sparsities.add(float(s))
                for key in RESURFACING:
                    line = lines[key].setdefault(name, [(0.0, table.get(lb, {}).get(key))])
                    line.append((float(s), row.get(key)))
    return lines, sorted(sparsities)


def _resurfacing_blocks(run: Path, figs: dict, table: dict) -> list:
    lines, sparsities = _resurfacing(figs, table)
    if not sparsities:
        return []
    blocks: list = [Paragraph("Resurfacing check: forget-set VerbMem / KnowMem after pruning.")]
    path = plot_lines(lines, RESURFACING, "requested sparsity", plot_path(run, "unlearning-resurfacing"))
    blocks += image(run, path, "resurfacing curves")
    rows = []
    for name, pts in lines["verbmem_forget"].items():
        know = dict(lines["knowmem_forget"].get(name, []))
        cells = {s: f"{_f(v)} / {_f(know.get(s))}" for s, v in pts}
        rows.append([name, *[cells.get(s, "") for s in [0.0, *sparsities]]])
    blocks.append(Table(["checkpoint", "dense", *[f"sparsity {s:g}" for s in sparsities]], rows))
    return blocks


def unlearning_section(run: Path, figs: dict, config: dict) -> Section | None:
    """The section for a run whose records hold the ``unlearning`` family (None otherwise)."""
    table = figs.get("unlearning", {})
    if not table:
        return None
    cols = [(k, t) for k, t in COLUMNS if any(row.get(k) is not None for row in table.values())]
    sec = Section("Unlearning comparison")
    sec.blocks += _definitions(run, config)
    if "retrain" not in table:
        sec.blocks.append(Paragraph("no retrain model: PrivLeak and forget quality need one", "muted"))
    rows = [[lb, *[row.get(k) for k, _ in cols]] for lb, row in table.items()]
    sec.blocks.append(Table(["checkpoint", *[t for _, t in cols]], rows))
    sec.blocks += image(run, plot_bars(table, cols, plot_path(run, "unlearning-bars")), "bar chart per metric")
    samples = [r for r in load_rows(run / "samples", "unlearning.jsonl") if is_dense(r)]
    onion = onion_rows(samples, list(table), float(config.get("onion_margin", 0.1)))
    if onion:
        sec.blocks.append(
            Paragraph("Onion check (Carlini et al. 2022): retain texts more exposed than on the base model.")
        )
        sec.blocks.append(Table(ONION_HEADERS, onion))
    sec.blocks += _resurfacing_blocks(run, figs, table)
    sec.blocks += difficulty_blocks(read_difficulty_table(run))
    return sec


def _definitions(run: Path, config: dict) -> list[Paragraph]:
    """What the columns mean (MUSE / TOFU), and a note when the truth ratio's answer options were not TOFU's."""
    attack = config.get("mia_attack", "min_k@0.4")
    out = [
        Paragraph(
            "VerbMem / KnowMem (MUSE): mean ROUGE-L F1 of the greedy continuation / answer against the truth "
            f"(0-1; MUSE prints x100). forget AUC: {attack} scoring forget above holdout texts. PrivLeak % (MUSE) "
            "= ((1 - AUC) - (1 - AUC_retrain)) / (1 - AUC_retrain) x 100: 0 = the retrain model, negative = the "
            "forget set still detectable, positive = over-unlearned. Forget truth ratio (TOFU): mean min(R, 1/R) "
            "of R = P(perturbed) / P(paraphrased); forget quality: KS-test p-value of R against the retrain "
            "model's; model utility: harmonic mean of retain-QA probability, ROUGE-L recall and truth ratio."
        )
    ]
    kinds = {
        (r.get("extra") or {}).get("truth_ratio_data")
        for r in load_rows(run)
        if r.get("family") == "unlearning" and r.get("task") in ("truth_ratio_forget", "truth_ratio_retain")
    }
    if kinds & {"fallback", "mixed"}:
        out.append(
            Paragraph(
                "Truth ratio fallback: QA rows without paraphrased_answer / perturbed_answer used their gold answer "
                "as the paraphrase and other rows' answers as the perturbed answers (not TOFU's data).",
                "muted",
            )
        )
    return out


def _f(v: object) -> str:
    return "-" if not isinstance(v, int | float) else f"{v:.3f}"
