"""The forecast table as text: ``forecast.md`` (Markdown) and the closing table on stdout (as
``auditor.cli.tables``). Labels and numbers only: no example text is ever shown. Undefined values (a 0/0
precision or recall, an AUC with one class) are "-", and an AUC interval not estimable (fewer than 5 of a class)
"[CI n/a]", with the reason in the notes below the table."""

from __future__ import annotations

from auditor.forecast.predictors import PREDICTORS
from auditor.report.markdown import md_cell, md_text

HEAD = ["early model", "fraction", "n", "pred", "true", "both", "precision", "recall"]


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _auc(a: dict | None) -> str:
    if not a or a.get("auc") is None:
        return "-"
    if not a.get("ci"):  # not estimable: too few of a class (the reason, ``ci_note``, is in the notes)
        return f"{a['auc']:.3f} [CI n/a]"
    lo, hi = a["ci"]
    return f"{a['auc']:.3f} [{lo:.2f}, {hi:.2f}]"


def _predictors(result: dict) -> list[str]:
    """The predictors measured for at least one early model, in the table's order."""
    names = [n for n in result["predictors"] if any(n in r["auc"] for r in result["early"])]
    return [n for n in names if n in PREDICTORS]


def _cells(label: str, fraction: float | None, r: dict, preds: list[str]) -> list[str]:
    frac = "?" if fraction is None else f"{fraction:.3g}"
    counts = [str(r[k]) for k in ("n", "n_predicted", "n_true", "n_both")]
    return [label, frac, *counts, _num(r["precision"]), _num(r["recall"]), *(_auc(r["auc"].get(n)) for n in preds)]


def cells(result: dict, by_kind: bool = False) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the table: one row per early model (``by_kind``: then one per model and kind of
    example, labelled ``model [kind]``, where the data holds more than one kind)."""
    preds = _predictors(result)
    head = HEAD + [f"AUC {PREDICTORS.get(n).title}" for n in preds]
    rows = []
    for r in result["early"]:
        rows.append(_cells(r["label"], r["fraction"], r, preds))
        for kind, k in (r.get("by_kind") or {}).items() if by_kind else ():
            rows.append(_cells(f"{r['label']} [{kind}]", r["fraction"], k, preds))
    return head, rows


def notes(result: dict) -> list[str]:
    """The reasons for undefined values, once each, with the early models they concern."""
    who: dict[str, list[str]] = {}
    for r in result["early"]:
        auc_notes = [a[k] for a in r["auc"].values() for k in ("note", "ci_note") if a.get(k)]
        for x in [*r["notes"], *auc_notes]:
            if r["label"] not in who.setdefault(x, []):
                who[x].append(r["label"])
    return [f"{', '.join(labels)}: {x}" for x, labels in who.items()]


def markdown(result: dict) -> str:
    """``forecast.md``: a heading, the settings, the table, the orientation of each predictor, the notes."""
    head, rows = cells(result, by_kind=True)
    fin = result["final"]
    lines = [
        "# Forecast of memorization",
        "",
        f"Final model {md_text(fin['label'])}: memorizes {fin['n_memorized']} of {result['n_examples']} examples "
        f"(prefix {result['prefix_len']} tokens, suffix {result['suffix_len']} tokens; "
        f"{result['skipped_short']} too short, skipped).",
        "",
        "| " + " | ".join(md_cell(h) for h in head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
        *("| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows),
        "",
        "pred: examples the early model memorizes; true: examples the final model memorizes; both: both. "
        "precision = both / pred, recall = both / true (Biderman et al. 2023). AUC [95% bootstrap CI] of each "
        "early predictor against the final model's labels, oriented so that higher predicts memorized:",
        "",
        *(f"- {PREDICTORS.get(n).title}: {PREDICTORS.get(n).description}" for n in _predictors(result)),
    ]
    extra = notes(result)
    if extra:
        lines += ["", "Notes:", "", *(f"- {md_text(x)}" for x in extra)]
    return "\n".join(lines) + "\n"


def text_table(result: dict) -> str:
    """The closing table on stdout: the first column left-aligned, the others right-aligned."""
    head, rows = cells(result)
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths, strict=True)))
        for row in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    fin = result["final"]
    lines.append(f"final {fin['label']}: memorizes {fin['n_memorized']} of {result['n_examples']} examples")
    lines += [f"note: {x}" for x in notes(result)]
    return "\n".join(lines)
