"""The unlearning comparison's section of the report, from records and ``samples/unlearning.jsonl``.

Table and bar chart per metric (``unlearning.<label>`` of the figures; MUSE's VerbMem, KnowMem and PrivLeak,
TOFU's truth ratio, forget quality and model utility: :mod:`auditor.unlearning.measures`), the onion check (Carlini et
al. 2022: retain texts more exposed than on the base model, from the per-text samples) and the
resurfacing check (forget-set VerbMem / KnowMem at the pruned points of every checkpoint), and the per-instance
unlearning difficulty table (Baluta et al. 2024; Sepahvand et al. 2025: :mod:`auditor.unlearning.difficulty_table`,
from the ``unlearning_difficulty`` records), also written as ``unlearning_difficulty.md`` / ``.json``.
"""

from __future__ import annotations

from pathlib import Path

from auditor.report.doc import Document, Paragraph, Section, Table, render_markdown
from auditor.report.plots import plot_bars, plot_lines, plot_path
from auditor.report.records import is_dense, load_rows
from auditor.report.sections import image
from auditor.stats.metrics import onion_counts, percentiles
from auditor.store.atomic import atomic_write_json, atomic_write_text

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


def _per_text(rows: list[dict], label: str, kind: str, dataset: str) -> dict[str, float]:
    return {
        str(r["id"]): float(r["value"])
        for r in rows
        if r.get("checkpoint") == label
        and r.get("kind") == kind
        and r.get("set") == dataset
        and r.get("value") is not None
    }


def _retain_percentiles(rows: list[dict], label: str) -> dict[str, float]:
    """Each retain text's MIA score as a percentile among the same checkpoint's holdout scores."""
    ref = list(_per_text(rows, label, "mia", "holdout").values())
    retain = _per_text(rows, label, "mia", "retain")
    return dict(zip(retain, percentiles(list(retain.values()), ref).tolist(), strict=True))


def onion_rows(rows: list[dict], labels: list[str], margin: float, base: str = "base") -> list[list]:
    """Per checkpoint other than ``base``: retain texts whose MIA percentile or VerbMem rose by > ``margin``."""
    p0, v0 = _retain_percentiles(rows, base), _per_text(rows, base, "verbatim", "retain")
    if not p0:
        return []
    out = []
    for lb in labels:
        if lb == base:
            continue
        p1, v1 = _retain_percentiles(rows, lb), _per_text(rows, lb, "verbatim", "retain")
        ids = sorted(set(p0) & set(p1))
        if not ids:
            continue
        nan = float("nan")
        o = onion_counts([p0[i] for i in ids], [p1[i] for i in ids], [v0.get(i, nan) for i in ids],
                         [v1.get(i, nan) for i in ids], margin)  # fmt: skip
        keys = ("n_retain", "more_exposed_mia", "more_extractable", "more_exposed_any", "mean_percentile_change")
        out.append([lb, *[o[k] for k in keys]])
    return out


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
    sec.blocks += difficulty_blocks(_difficulty_table(run))
    return sec


DIFFICULTY = "unlearning_difficulty"
_STEP_COLUMNS = (("median_steps_to_unextractable", "median steps to unextractable"),
                 ("mean_steps_to_unextractable", "mean steps to unextractable"))  # fmt: skip
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


def _difficulty_table(run: Path) -> dict:
    """:func:`auditor.unlearning.difficulty_table.difficulty_table` of the run's records (imported here, when
    used: the ``auditor.unlearning`` package imports torch, which ``auditor --help`` must not)."""
    from auditor.unlearning.difficulty_table import difficulty_table

    return difficulty_table(load_rows(run))


def _difficulty_notes(table: dict) -> list[Paragraph]:
    from auditor.unlearning.difficulty_table import BASE_NOTE

    every = ", ".join(f"{m} every {i['every']} of {i['max_step']} steps" for m, i in table["methods"].items())
    out = [Paragraph(_DIFFICULTY_INTRO.format(every=every))]
    if not table["oracle"]:
        out.append(Paragraph(_NO_ORACLE, "muted"))
    model = table["el2n_model"]
    out.append(Paragraph(_BASE_EL2N if model == BASE_NOTE else f"EL2N was scored with difficulty_model {model}.",
                         "muted"))  # fmt: skip
    return out


def difficulty_blocks(table: dict) -> list:
    """The per-instance difficulty table (a paragraph of definitions, notes, the binned table, the findings)."""
    from auditor.unlearning.difficulty_table import steps_cell

    if not table["methods"]:
        return []
    blocks: list = _difficulty_notes(table)
    oracle = [("median_steps_to_oracle_loss", "median steps to oracle loss")] if table["oracle"] else []
    heads = ["method", "bin", "n", "ever extractable", *[t for _, t in _STEP_COLUMNS], "not reached",
             *[t for _, t in oracle]]  # fmt: skip
    rows = []
    for r in table["rows"]:
        top = table["methods"][r["method"]]["max_step"]
        cells = [steps_cell(r, k, top) for k, _ in _STEP_COLUMNS]
        rows.append([r["method"], r["bin"], r["n"], r["ever_extractable"], *cells, r["not_reached"],
                     *[steps_cell(r, k, top) for k, _ in oracle]])  # fmt: skip
    blocks.append(Table(heads, rows))
    blocks += [Paragraph(x) for x in table["sentences"]]
    return blocks


def write_difficulty_files(run: Path) -> Path | None:
    """``unlearning_difficulty.json`` (the table, correlations and sentences) and ``.md`` (as in the report) in the
    run folder, from its records; None (nothing written) when the run tracked no method."""
    table = _difficulty_table(run)
    if not table["methods"]:
        return None
    atomic_write_json(run / f"{DIFFICULTY}.json", table)
    doc = Document("memaudit per-instance unlearning difficulty", [Section("Unlearning difficulty",
                   difficulty_blocks(table))])  # fmt: skip
    atomic_write_text(run / f"{DIFFICULTY}.md", render_markdown(doc))
    return run / f"{DIFFICULTY}.md"


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
