"""The closing results table a command prints on stdout (as lm-eval prints its table): one row per measured
point (checkpoint, method, sparsity), one column per headline figure found in the run's records, each figure
with the number of items it was measured on (``0.025 (n=40)``) and the items left out when any
(``0.000 (n=1, 39 skipped)``, their reasons under the table)."""

from __future__ import annotations

from pathlib import Path

from auditor.store.runs import log_rows

# (family, task or None for any, metric, column title), in column order; a column appears when records hold it.
HEADLINES: tuple[tuple[str, str | None, str, str], ...] = (
    ("mia", "loss", "auc", "LOSS AUC"),
    ("mia", "min_k_pp@0.2", "auc", "MinK++ AUC"),
    ("mia", "reference", "auc", "Ref AUC"),
    ("extraction", "extraction", "exact_extraction_rate", "extract"),
    ("extraction", "extraction_canaries", "exact_extraction_rate", "canary extr"),
    ("exposure", "exposure", "exposure", "exposure bits"),
    ("fact_recall", None, "accuracy", "fact recall"),
    ("open_book", None, "accuracy", "open book"),
    ("overriding", None, "accuracy", "overriding"),
    ("icl_classification", None, "accuracy", "ICL"),
)


def _point(r: dict) -> tuple[str, str, float]:
    req = r.get("requested_sparsity")
    return str(r.get("checkpoint", "")), str(r.get("method", "")), float(req if req is not None else 0.0)


def cell(r: dict) -> str:
    """A figure with its n, and the items left out when any: ``0.000 (n=1, 39 skipped)``."""
    text = f"{float(r['value']):.3f}"
    n = r.get("n")
    if not isinstance(n, int) or isinstance(n, bool):
        return text
    left = sum(v for v in (r.get("skipped") or {}).values() if isinstance(v, int))
    return f"{text} (n={n}, {left} skipped)" if left else f"{text} (n={n})"


def _cells(records: list[dict]) -> tuple[dict[tuple[str, str, float], dict[str, str]], dict[str, set[str]]]:
    """``{point: {column title: cell}}`` and, per column, the reasons items were left out."""
    by_point: dict[tuple[str, str, float], dict[str, str]] = {}
    reasons: dict[str, set[str]] = {}
    for r in records:
        for fam, task, metric, title in HEADLINES:
            hit = (r.get("family"), r.get("metric")) == (fam, metric) and task in (None, r.get("task"))
            if hit and isinstance(r.get("value"), int | float) and title not in by_point.get(_point(r), {}):
                by_point.setdefault(_point(r), {})[title] = cell(r)
                reasons.setdefault(title, set()).update(k for k, v in (r.get("skipped") or {}).items() if v)
    return by_point, reasons


def _layout(rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell: text left, numbers right (from the fourth column)."""
    widths = [max(len(str(x)) for x in col) for col in zip(*rows, strict=True)]
    lines = [
        "  ".join(
            str(x).rjust(w) if i > 1 else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def records_table(records: list[dict], max_rows: int = 40) -> str:
    """A plain-text table of the headline figures per point, each with its n (and the items skipped, when any,
    with their reasons below the table); at most ``max_rows`` rows, then a count."""
    by_point, reasons = _cells(records)
    if not by_point:
        return "(no headline figures in the records)"
    columns = [t for *_, t in HEADLINES if any(t in v for v in by_point.values())]
    head = ["checkpoint", "method", "sparsity", *columns]
    order = sorted(by_point.items(), key=lambda kv: (kv[0][0], kv[0][1] != "dense", kv[0]))
    rows = [[c, m, f"{s:.2f}", *(v.get(t, "-") for t in columns)] for (c, m, s), v in order]
    lines = _layout([head, *rows[:max_rows]])
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more points in records.jsonl")
    lines += [f"skipped ({t}): {'; '.join(sorted(reasons[t]))}" for t in columns if reasons.get(t)]
    return "\n".join(lines)


def print_run_table(run: Path) -> None:
    """Print the run's headline table (from its records.jsonl), then where the records are."""
    path = Path(run) / "records.jsonl"
    if not path.is_file():
        return
    records = log_rows(path)
    print(records_table(records))
    print(f"records: {path}")
    difficulty_lines(Path(run), records)


def difficulty_lines(run: Path, records: list[dict]) -> None:
    """After an unlearning comparison's table: per method, the median steps to unextractable per bin
    (per-instance difficulty, :mod:`auditor.unlearning.difficulty_table`), and where the table is."""
    from auditor.unlearning.difficulty_table import FAMILY, difficulty_table, summary_lines  # imports torch

    if not any(r.get("family") == FAMILY for r in records):
        return
    table = difficulty_table(records)
    if not table["methods"]:
        return
    print("unlearning difficulty (median steps to unextractable per bin):")
    print("\n".join(summary_lines(table)))
    for f in table["findings"]:
        if f["criterion"] == "steps_to_unextractable":  # the oracle-loss findings: in the report and the .md
            print(f"  {f['text']}")
    print(f"difficulty: {run / 'unlearning_difficulty.md'}")
