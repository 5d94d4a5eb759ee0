"""The unlearning comparison's section of the report: table, bar chart per metric, onion and resurfacing."""

from __future__ import annotations

from pathlib import Path

from auditor.report.doc import Image, Paragraph, Section, Table

COLUMNS = (
    ("verbmem_forget", "VerbMem forget"),
    ("knowmem_forget", "KnowMem forget"),
    ("knowmem_retain", "KnowMem retain"),
    ("forget_auc", "forget AUC"),
    ("privleak", "PrivLeak"),
    ("holdout_ppl", "holdout ppl"),
    ("fact_recall", "fact recall"),
    ("open_book", "open-book"),
    ("overriding", "overriding"),
    ("icl_classification", "ICL class."),
)


def unlearning_section(run: Path, result: dict) -> Section:
    table = result["checkpoints"]
    cols = [(k, t) for k, t in COLUMNS if any(row.get(k) is not None for row in table.values())]
    sec = Section("Unlearning comparison")
    sec.blocks.append(
        Paragraph(
            f"MIA attack for PrivLeak: {result['attack']}. PrivLeak = (AUC - AUC_retrain) / AUC_retrain on forget "
            "vs holdout texts (MUSE); 0 means indistinguishable from the model retrained without the forget set."
        )
    )
    if result.get("privleak_note"):
        sec.blocks.append(Paragraph(result["privleak_note"], "muted"))
    sec.blocks.append(
        Table(
            ["checkpoint", *[t for _, t in cols]], [[lb, *[row.get(k) for k, _ in cols]] for lb, row in table.items()]
        )
    )
    sec.blocks.append(Image(run / "unlearning_bars.png", "bar chart per metric", "unlearning_bars.png"))
    sec.blocks.append(Paragraph("Onion check (Carlini et al. 2022): retain texts more exposed than on the base model."))
    rows = []
    for lb, row in table.items():
        o = row.get("onion")
        if o:
            rows.append(
                [
                    lb,
                    o["n_retain"],
                    o["more_exposed_mia"],
                    o["more_extractable"],
                    o["more_exposed_any"],
                    o["mean_percentile_change"],
                ]
            )
    sec.blocks.append(
        Table(
            ["checkpoint", "retain texts", "MIA percentile up", "VerbMem up", "either", "mean percentile change"], rows
        )
    )
    sec.blocks.append(Paragraph("Resurfacing check: forget-set VerbMem / KnowMem after magnitude pruning."))
    sec.blocks.append(Image(run / "resurfacing.png", "resurfacing curves", "resurfacing.png"))
    resurf = result.get("resurfacing", {})
    sparsities = sorted({s for pts in resurf.values() for s in pts}, key=float)
    rows = []
    for lb, pts in resurf.items():
        base = table.get(lb, {})
        cells = [f"{base.get('verbmem_forget', 0):.3f} / {_f(base.get('knowmem_forget'))}"]
        cells += [
            f"{pts[s]['verbmem_forget']:.3f} / {_f(pts[s].get('knowmem_forget'))}" if s in pts else ""
            for s in sparsities
        ]
        rows.append([lb, *cells])
    sec.blocks.append(Table(["checkpoint", "dense", *[f"sparsity {s}" for s in sparsities]], rows))
    return sec


def _f(v: object) -> str:
    return "-" if v is None else f"{v:.3f}"
