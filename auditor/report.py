"""Render a run directory's records and manifest as ``report.md`` and a self-contained ``report.html``.

Every string that comes from a model, a dataset or a config is HTML-escaped in the HTML report.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from auditor.runs import MANIFEST, RunDir


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:.3f}, {v[1]:.3f}]"
    return "" if v is None else str(v)


COLUMNS = ("family", "task", "metric", "value", "ci", "n", "method", "sparsity")


def _rows(records: list[dict]) -> list[list[str]]:
    return [[_fmt(r.get(c)) for c in COLUMNS] for r in records]


def render_markdown(title: str, records: list[dict], manifest: dict, notes: list[str]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes] + [""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in _rows(records)]
    lines += ["", "## Manifest", "", "```json", json.dumps(manifest, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def render_html(title: str, records: list[dict], manifest: dict, notes: list[str]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _rows(records))
    items = "".join(f"<li>{e(n)}</li>" for n in notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>"
        f"<h1>{e(title)}</h1><ul>{items}</ul><table><tr>{head}</tr>{body}</table>"
        f"<h2>Manifest</h2><pre>{e(json.dumps(manifest, indent=2, default=str))}</pre></body></html>"
    )


def write_report(run: RunDir | str | Path, title: str = "memaudit report", notes: list[str] | None = None) -> Path:
    """Write report.md and report.html into the run directory; return the HTML path."""
    path = run.path if isinstance(run, RunDir) else Path(run)
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    records = run.all_records() if isinstance(run, RunDir) else RunDir(path, manifest["config"]).all_records()
    notes = notes or []
    (path / "report.md").write_text(render_markdown(title, records, manifest, notes), encoding="utf-8")
    out = path / "report.html"
    out.write_text(render_html(title, records, manifest, notes), encoding="utf-8")
    return out
