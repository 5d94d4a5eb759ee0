"""``auditor report RUN``: a self-contained ``report.html`` and a ``report.md`` with the same tables.

Built from the run directory's records and samples only (``docs/records.md``); plots are drawn at report
time into ``RUN/plots/``. Works on an audit directory (several checkpoints side by side, deltas against
the baseline) and on a plain run (``auditor mia``, ``extract``, ``sweep``, ``unlearn-compare`` ...).
Sections: the first screen (verdict, what was audited, the deciding figures), then one section per
question: memorization (membership inference, extraction and exposure), pruning, capability,
unlearning (when present); then every figure (collapsed), notes and the manifest. By default
(``redact=True``) every memorized or extracted text is replaced by a coarse length and a tag
keyed with a salt drawn afresh for each document (``redact_text``): equal texts share a tag within the
report, and the tag cannot be checked against guessed texts, so a report can be shared without leaking
what it found.
"""

from __future__ import annotations

import json
from pathlib import Path

import auditor.store.parallel as parallel
from auditor.errors import InputError
from auditor.report.doc import Details, Document, Paragraph, Pre, Section, Table, render_html, render_markdown
from auditor.report.extraction import extraction_section
from auditor.report.figures import view_figures
from auditor.report.headline import first_screen
from auditor.report.numbers import Bits, delta, low_n_fpr
from auditor.report.pruning import pruning_section
from auditor.report.records import View, is_audit, views
from auditor.report.redact import new_salt, redact_text
from auditor.report.run_files import check_run_files
from auditor.report.sections import capability_section, checkpoint_name, dense_capability_section, mia_section
from auditor.report.shareable import PathScrub, run_paths, scrub_document, shareable_views
from auditor.report.unlearning import unlearning_section
from auditor.store.record_tree import is_evidence
from auditor.store.runs import MANIFEST

__all__ = ["build_document", "redact_text", "write_report"]

REDACTED_NOTE = (
    "Memorized and extracted texts are shown as a rough length and a tag: rows with the same tag hold the same "
    "text. Tags are keyed with a random value drawn for this report alone, so they cannot be checked against guessed "
    "texts or compared with another report's."
)
UNREDACTED_NOTE = (
    "This report shows memorized and extracted training texts verbatim: share it only with readers of the data."
)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _all_figures(figs: dict) -> dict[str, object]:
    """The dense point's figures for the collapsed table of every figure."""
    out: dict[str, object] = {}
    for attack, res in figs.get("mia", {}).items():
        if "auc" in res:
            out[f"mia.{attack}.auc"] = res["auc"]
            na = low_n_fpr(res.get("n_nonmembers"), 0.01)
            out[f"mia.{attack}.tpr@1%fpr"] = na or res.get("tpr@1%fpr")
    for key, v in figs.get("extraction", {}).items():
        if key.startswith(("exact_extraction_rate", "approx_extraction_rate")) and _num(v) and not is_evidence(key):
            out[f"extraction.{key}"] = v
    for key in ("exact_extraction_rate", "approx_extraction_rate"):
        v = figs.get("extraction_canaries", {}).get(key)
        if _num(v):
            out[f"extraction_canaries.{key}"] = v
    for key in ("max", "mean"):
        v = figs.get("exposure", {}).get(key)
        if _num(v):
            out[f"exposure.{key}"] = Bits(v)
    for fam, entry in figs.get("capability", {}).items():
        if "accuracy" in entry:
            out[f"capability.{fam}.accuracy"] = entry["accuracy"]
        for method, thr in entry.get("threshold_5pct", {}).items():
            out[f"capability.{fam}.threshold_5pct.{method}"] = thr
    out.update({f"lab.{k}": v for k, v in figs.get("lab", {}).items() if _num(v)})
    return out


def _figures_table(figs: dict[str, dict], primary: str, baseline: str | None) -> list:
    """Every dense figure of every checkpoint (and the primary's change from the baseline), collapsed."""
    labels = list(figs)
    heads = {label: _all_figures(f) for label, f in figs.items()}
    keys = sorted({k for h in heads.values() for k in h})
    if not keys:
        return []
    ref = baseline if baseline in heads and len(labels) > 1 else None
    headers = ["figure", *labels] + ([f"{primary} - {ref}"] if ref else [])
    rows = []
    for k in keys:
        row: list[object] = [k] + [heads[label].get(k) for label in labels]
        if ref:
            row.append(delta(heads[primary].get(k), heads[ref].get(k), bits=k.startswith("exposure.")))
        rows.append(row)
    return [Details(f"All {len(keys)} figures of the unpruned checkpoints, side by side", [Table(headers, rows)])]


def _question(title: str, parts: list[tuple[str, list]]) -> list[Section]:
    """A question's section (h2) and its parts (h3), or nothing when no part has blocks."""
    subs = [Section(name, blocks, level=3) for name, blocks in parts if blocks]
    return [Section(title), *subs] if subs else []


def _sections(run: Path, found: list[View], figs: dict[str, dict], salt: bytes | None, top: int) -> list[Section]:
    """Memorization, pruning, capability: one section per question, every checkpoint side by side."""
    pruned = [b for v in found for b in pruning_section(run, v.label, figs[v.label])]
    return [
        *_question(
            "Memorization",
            [
                ("Membership inference", mia_section(run, found, figs, salt, top)),
                ("Extraction and exposure", extraction_section(run, found, figs, salt, top)),
            ],
        ),
        *_question(
            "Pruning",
            [
                ("What pruning removes first", pruned),
                ("Capabilities under pruning", capability_section(run, found, figs)),
            ],
        ),
        *_question("Capability", [("Unpruned accuracy", dense_capability_section(found, figs))]),
    ]


def _notes(found: list[View]) -> list[str]:
    """The checkpoints' loading notes (a conversion, a merged adapter), once each."""
    manifests = dict.fromkeys(v.path for v in found)
    return list(
        dict.fromkeys(n for p in manifests for n in _read_json(p / MANIFEST).get("checkpoint", {}).get("notes", []))
    )


def _path_scrub(run: Path, manifest: dict, found: list[View]) -> PathScrub:
    """The paths a shareable report must not show: those the run's manifests name (see ``shareable``)."""
    others = [_read_json(p / MANIFEST) for p in dict.fromkeys(v.path for v in found) if p != run]
    return PathScrub.of(run_paths(run, [manifest, *others]))


def build_document(run: Path, *, redact: bool = True, title: str | None = None, top: int = 5) -> Document:
    """The report of a run directory as a :class:`Document`.

    ``redact`` (default True): member and extracted texts as ``redact_text`` tags, and no local path anywhere
    (checkpoints and data by their last component; ``shareable``); pass False only for a report that stays
    with readers of the training data. A run with a damaged JSON file is refused (``check_run_files``).
    """
    check_run_files(run)
    manifest = _read_json(run / MANIFEST)
    if not manifest:
        raise InputError(f"{run} has no {MANIFEST}; is it a run directory written by auditor?")
    found, primary, baseline = views(run)
    scrub = _path_scrub(run, manifest, found) if redact else None
    if scrub:  # checkpoints labelled by their path get its last component: in tables, plot titles, file names
        found, primary, baseline = shareable_views(found, primary, baseline, scrub, checkpoint_name)
    figs = {v.label: view_figures(v) for v in found}
    doc = Document(title or ("memaudit release audit" if is_audit(run) else "memaudit report"))
    salt = new_salt() if redact else None  # one per document, never written: tags match within it only
    summary = first_screen(run, found, figs, primary, baseline)
    summary.append(Paragraph(REDACTED_NOTE if redact else UNREDACTED_NOTE, "muted" if redact else "fail"))
    doc.sections.append(Section("Summary", summary))
    doc.sections += _sections(run, found, figs, salt, top)
    unlearning = unlearning_section(run, figs[primary], manifest.get("config", {}))
    if unlearning:
        doc.sections.append(unlearning)
    notes = _notes(found)
    if notes:
        doc.sections.append(Section("Notes", [Paragraph(n) for n in notes]))
    doc.sections.append(Section("All figures", _figures_table(figs, primary, baseline)))
    shown = scrub.value(manifest) if scrub else manifest  # keys and values: a shareable report names no folder
    doc.sections.append(
        Section("Manifest", [Details("manifest.json", [Pre(json.dumps(shown, indent=2, default=str))])])
    )
    return scrub_document(doc, scrub) if scrub else doc


def write_report(run: str | Path, *, redact: bool = True, title: str | None = None) -> Path:
    """Write ``report.html`` and ``report.md`` into the run directory; return the HTML path.

    Texts are redacted by default (``redact=True``); ``redact=False`` shows them verbatim.
    """
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
