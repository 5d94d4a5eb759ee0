"""``auditor report RUN``: a self-contained ``report.html`` and a ``report.md`` with the same tables.

Built from the run directory's records and samples only (``docs/records.md``); plots are drawn at report
time into ``RUN/plots/``. Works on an audit directory (several checkpoints side by side, deltas against
the baseline) and on a plain run (``auditor mia``, ``extract``, ``sweep``, ``unlearn-compare`` ...).
Sections: summary and verdict, membership inference, extraction and exposure, capability under pruning,
what pruning removes first (memorization against capability), unlearning (when present), notes,
manifest. With ``redact=True`` every memorized or extracted text is replaced by a coarse length and a tag
keyed with a salt drawn afresh for each document (``redact_text``): equal texts share a tag within the
report, and the tag cannot be checked against guessed texts, so a report can be shared without leaking
what it found.
"""

from __future__ import annotations

import json
from pathlib import Path

import auditor.parallel as parallel
from auditor.errors import InputError
from auditor.report.doc import Document, Paragraph, Pre, Section, Table, render_html, render_markdown
from auditor.report.figures import view_figures
from auditor.report.pruning import pruning_section
from auditor.report.records import View, is_audit, views
from auditor.report.sections import capability_section, extraction_section, mia_section, new_salt, redact_text
from auditor.report.unlearning import unlearning_section
from auditor.runs import MANIFEST

__all__ = ["build_document", "redact_text", "write_report"]

REDACTED_NOTE = (
    "Memorized and extracted texts are shown as a rough length and a tag: rows with the same tag hold the same "
    "text. Tags are keyed with a random value drawn for this report alone, so they cannot be checked against guessed "
    "texts or compared with another report's."
)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _headline(figs: dict) -> dict[str, float]:
    """The dense point's headline numbers for the summary table."""
    out: dict[str, float] = {}
    for attack, res in figs.get("mia", {}).items():
        if "auc" in res:
            out[f"mia.{attack}.auc"] = res["auc"]
            out[f"mia.{attack}.tpr@1%fpr"] = res.get("tpr@1%fpr")
    for key, v in figs.get("extraction", {}).items():
        if key.startswith(("exact_extraction_rate", "approx_extraction_rate")) and _num(v):
            out[f"extraction.{key}"] = v
    for key in ("exact_extraction_rate", "approx_extraction_rate"):
        v = figs.get("extraction_canaries", {}).get(key)
        if _num(v):
            out[f"extraction_canaries.{key}"] = v
    for key in ("max", "mean"):
        v = figs.get("exposure", {}).get(key)
        if _num(v):
            out[f"exposure.{key}"] = v
    for fam, entry in figs.get("capability", {}).items():
        if "accuracy" in entry:
            out[f"capability.{fam}.accuracy"] = entry["accuracy"]
        for method, thr in entry.get("threshold_5pct", {}).items():
            out[f"capability.{fam}.threshold_5pct.{method}"] = thr
    out.update({f"lab.{k}": v for k, v in figs.get("lab", {}).items() if _num(v)})
    return out


def _verdict(run: Path) -> list:
    gate = _read_json(run / "gate.json")
    if not gate:
        return [Paragraph("No gate policy was checked for this run (auditor gate RUN --policy FILE).", "muted")]
    verdict = "PASS" if gate.get("passed") else "FAIL"
    n_rules = len(gate["rules"])
    n_failed = sum(not r.get("passed", False) for r in gate["rules"])
    detail = f"{n_failed} of {n_rules} rules failed" if n_failed else f"all {n_rules} rules passed"
    rows = [
        [r["rule"], r["value"], r["threshold"], r["baseline"], "PASS" if r["passed"] else "FAIL"] for r in gate["rules"]
    ]
    warnings = [Paragraph(w, "fail") for w in gate.get("warnings", [])]
    return [
        Paragraph(f"Verdict: {verdict} ({detail})", verdict.lower()),
        *warnings,
        Table(["rule", "value", "threshold", "baseline", "result"], rows),
    ]


def _summary(run: Path, figs: dict[str, dict], primary: str, baseline: str | None) -> Section:
    sec = Section("Summary", _verdict(run))
    labels = list(figs)
    heads = {label: _headline(f) for label, f in figs.items()}
    keys = sorted({k for h in heads.values() for k in h})
    if not keys:
        return sec
    ref = baseline if baseline in heads and len(labels) > 1 else None
    headers = ["figure", *labels] + ([f"{primary} - {ref}"] if ref else [])
    rows = []
    for k in keys:
        row: list[object] = [k] + [heads[label].get(k) for label in labels]
        if ref:
            a, b = heads[primary].get(k), heads[ref].get(k)
            row.append(f"{a - b:+.4f}" if _num(a) and _num(b) else None)
        rows.append(row)
    sec.blocks.append(Table(headers, rows))
    return sec


def _sections(run: Path, found: list[View], figs: dict[str, dict], salt: bytes | None, top: int) -> list[Section]:
    builders = (
        ("Membership inference", lambda v, f: mia_section(run, v, f, _read_json(v.path / MANIFEST), salt, top)),
        ("Extraction and exposure", lambda v, f: extraction_section(v, f, salt, top)),
        ("Capabilities under pruning", lambda v, f: capability_section(run, v, f)),
        ("What pruning removes first", lambda v, f: pruning_section(run, v.label, f)),
    )
    out = []
    for name, fn in builders:
        blocks = [b for v in found for b in fn(v, figs[v.label])]
        if blocks:
            out.append(Section(name, blocks))
    return out


def build_document(run: Path, *, redact: bool = False, title: str | None = None, top: int = 5) -> Document:
    """The report of a run directory as a :class:`Document` (``redact``: texts as ``redact_text`` tags)."""
    manifest = _read_json(run / MANIFEST)
    if not manifest:
        raise InputError(f"{run} has no {MANIFEST}; is it a run directory written by auditor?")
    found, primary, baseline = views(run)
    figs = {v.label: view_figures(v) for v in found}
    doc = Document(title or ("memaudit release audit" if is_audit(run) else "memaudit report"))
    salt = new_salt() if redact else None  # one per document, never written: tags match within it only
    if redact:
        doc.sections.append(Section("Redacted", [Paragraph(REDACTED_NOTE)]))
    doc.sections.append(_summary(run, figs, primary, baseline))
    doc.sections += _sections(run, found, figs, salt, top)
    unlearning = unlearning_section(run, figs[primary], manifest.get("config", {}))
    if unlearning:
        doc.sections.append(unlearning)
    manifests = dict.fromkeys(v.path for v in found)
    notes = [n for p in manifests for n in _read_json(p / MANIFEST).get("checkpoint", {}).get("notes", [])]
    if notes:
        doc.sections.append(Section("Notes", [Paragraph(n) for n in dict.fromkeys(notes)]))
    doc.sections.append(Section("Manifest", [Pre(json.dumps(manifest, indent=2, default=str))]))
    return doc


def write_report(run: str | Path, *, redact: bool = False, title: str | None = None) -> Path:
    """Write ``report.html`` and ``report.md`` into the run directory; return the HTML path."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"run directory not found: {run}")
    if not parallel.is_main():  # data parallel: the main process writes the report
        return run / "report.html"
    doc = build_document(run, redact=redact, title=title)
    (run / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    out = run / "report.html"
    out.write_text(render_html(doc), encoding="utf-8")
    return out
