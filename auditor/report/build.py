"""``auditor report RUN``: a self-contained ``report.html`` and a ``report.md`` with the same tables.

Works on an audit directory (several checkpoints side by side, deltas against the baseline) and on a
plain run (``auditor mia``, ``extract``, ``sweep`` ...). Sections: summary and verdict, membership
inference, extraction and exposure, capability under pruning, unlearning (when present), manifest.
With ``redact=True`` every memorized or extracted text is replaced by its length and a hash, so a
report can be shared without leaking what it found.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from auditor.errors import InputError
from auditor.report.doc import Document, Image, Paragraph, Pre, Section, Table, fmt, render_html, render_markdown
from auditor.report.figures import checkpoint_figures, is_audit
from auditor.runs import MANIFEST, UnitLog

SUMMARY_FIGURES = (
    ("mia", "best attack AUC"),
    ("extraction", "exact extraction rate"),
    ("exposure", "max exposure (bits)"),
    ("capability", "capability accuracy"),
)


def redact_text(text: str) -> str:
    """``[redacted: N chars, sha256 0123abcd4567]``: enough to match against a file, nothing to read."""
    h = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"[redacted: {len(text)} chars, sha256 {h}]"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _headline(figs: dict) -> dict[str, float]:
    """One number per probe family for the summary table."""
    out: dict[str, float] = {}
    for attack, res in figs.get("mia", {}).items():
        if isinstance(res, dict) and "auc" in res:
            out[f"mia.{attack}.auc"] = res["auc"]
            out[f"mia.{attack}.tpr@1%fpr"] = res.get("tpr@1%fpr")
    for key, v in figs.get("extraction", {}).items():
        if key.startswith(("exact_extraction_rate@", "approx_extraction_rate@")) and isinstance(v, int | float):
            out[f"extraction.{key}"] = v
    for key in ("exact_extraction_rate", "approx_extraction_rate"):
        v = figs.get("extraction_canaries", {}).get(key)
        if isinstance(v, int | float):
            out[f"extraction_canaries.{key}"] = v
    for key in ("max", "mean"):
        v = figs.get("exposure", {}).get(key)
        if isinstance(v, int | float):
            out[f"exposure.{key}"] = v
    for fam, entry in figs.get("capability", {}).items():
        if "accuracy" in entry:
            out[f"capability.{fam}.accuracy"] = entry["accuracy"]
        for method, thr in entry.get("threshold_5pct", {}).items():
            out[f"capability.{fam}.threshold_5pct.{method}"] = thr
    for key, v in figs.get("lab", {}).items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[f"lab.{key}"] = v
    return out


def _summary(run: Path, figs: dict[str, dict], primary: str, baseline: str | None) -> Section:
    sec = Section("Summary")
    gate = _read_json(run / "gate.json")
    if gate:
        verdict = "PASS" if gate.get("passed") else "FAIL"
        n_failed = sum(not r.get("passed", False) for r in gate["rules"])
        detail = (
            f"{n_failed} of {len(gate['rules'])} rules failed" if n_failed else f"all {len(gate['rules'])} rules passed"
        )
        sec.blocks.append(Paragraph(f"Verdict: {verdict} ({detail})", verdict.lower()))
        sec.blocks.append(
            Table(
                ["rule", "value", "threshold", "baseline", "result"],
                [
                    [r["rule"], r["value"], r["threshold"], r["baseline"], "PASS" if r["passed"] else "FAIL"]
                    for r in gate["rules"]
                ],
            )
        )
    else:
        msg = "No gate policy was checked for this run (auditor gate RUN --policy FILE)."
        sec.blocks.append(Paragraph(msg, "muted"))
    labels = list(figs)
    heads = {label: _headline(f) for label, f in figs.items()}
    keys = sorted({k for h in heads.values() for k in h})
    if not keys:
        return sec
    ref = baseline if baseline in heads else None
    headers = ["figure", *labels] + ([f"{primary} - {ref}"] if ref and len(labels) > 1 else [])
    rows = []
    for k in keys:
        row: list[object] = [k] + [heads[label].get(k) for label in labels]
        if ref and len(labels) > 1:
            a, b = heads[primary].get(k), heads[ref].get(k)
            row.append(f"{a - b:+.4f}" if isinstance(a, int | float) and isinstance(b, int | float) else None)
        rows.append(row)
    sec.blocks.append(Table(headers, rows))
    return sec


def _member_texts(run: Path, manifest: dict) -> dict[str, str]:
    """id -> text of the member/non-member files the run was given (for the top-scoring table)."""
    from auditor.data import load_texts

    cfg = manifest.get("config", {})
    mia = cfg.get("mia") if isinstance(cfg.get("mia"), dict) else {}
    paths = [mia.get("members"), mia.get("nonmembers"), cfg.get("members"), cfg.get("nonmembers")]
    if cfg.get("lab"):
        from auditor.lab.build import SHIPPED_DIR

        lab = SHIPPED_DIR if cfg["lab"] == "standard" else Path(cfg["lab"])
        paths += [str(lab / "members.jsonl"), str(lab / "nonmembers.jsonl")]
    out: dict[str, str] = {}
    for p in paths:
        if p and Path(p).exists():
            try:
                ts = load_texts(p, mia.get("text_column", "text"), mia.get("id_column", "id"))
            except Exception:  # the report shows ids when texts cannot be read back
                continue
            out.update(zip(ts.ids, ts.texts, strict=True))
    return out


def _mia_section(run: Path, label: str, sub: Path, manifest: dict, redact: bool, top: int) -> list:
    mia = _read_json(sub / "mia.json")
    if not mia:
        return []
    blocks: list = [Paragraph(f"{label}: membership inference (higher score = more likely a member)")]
    rows = [
        [a, r.get("auc"), r.get("auc_ci"), r.get("tpr@1%fpr"), r.get("tpr@0.1%fpr"), r.get("n_members")]
        for a, r in mia.items()
        if isinstance(r, dict)
    ]
    blocks.append(Table(["attack", "AUC", "95% CI", "TPR@1%FPR", "TPR@0.1%FPR", "members"], rows))
    roc = sub / "mia_roc.png"
    blocks.append(Image(roc, f"ROC curves, {label}", str(roc.relative_to(run))))
    scores = UnitLog(sub / "samples" / "mia_scores.jsonl").rows()
    best = max((a for a in mia if isinstance(mia[a], dict)), key=lambda a: mia[a].get("auc", 0), default=None)
    if scores and best:
        texts = _member_texts(run, manifest)
        members = sorted((r for r in scores if r["label"] == 1), key=lambda r: -r["scores"].get(best, 0))[:top]
        rows = []
        for r in members:
            t = texts.get(r["id"], "")
            rows.append([r["id"], r["scores"].get(best), redact_text(t) if redact and t else t])
        blocks.append(Paragraph(f"Top-scoring member texts under {best}:"))
        blocks.append(Table(["id", f"{best} score", "text"], rows, text_columns=(2,)))
    return blocks


def _repeat_order(kv: tuple) -> float:
    try:
        return float(kv[0])
    except (TypeError, ValueError):
        return float("inf")


def _by_repeats_table(d: dict, columns: tuple[str, ...]) -> Table:
    rows = [[k, *[v.get(c) for c in columns]] for k, v in sorted(d.items(), key=_repeat_order) if isinstance(v, dict)]
    return Table(["repeats", *columns], rows)


_EXTRACTION_BY_REPEATS = ("n", "exact_extraction_rate", "approx_extraction_rate", "token_match")


def _extraction_section(run: Path, label: str, sub: Path, redact: bool, top: int) -> list:
    ext, exp = _read_json(sub / "extraction.json"), _read_json(sub / "exposure.json")
    can = _read_json(sub / "extraction_canaries.json")
    if not ext and not exp and not can:
        return []
    blocks: list = []
    if ext:
        blocks.append(Paragraph(f"{label}: discoverable extraction (k-token prefix, greedy m-token suffix)"))
        scalars = [[k, v] for k, v in ext.items() if isinstance(v, int | float | str) and not isinstance(v, bool)]
        blocks.append(Table(["figure", "value"], scalars))
        by_prefix = ext.get("by_prefix_len")
        if isinstance(by_prefix, dict):
            cols = sorted(
                {c for v in by_prefix.values() if isinstance(v, dict) for c in v if not isinstance(v[c], dict)}
            )
            rows = [[k, *[v.get(c) for c in cols]] for k, v in by_prefix.items() if isinstance(v, dict)]
            blocks.append(Paragraph("By prefix length:"))
            blocks.append(Table(["prefix_len", *cols], rows))
        if isinstance(ext.get("by_repeats"), dict):
            blocks.append(Paragraph("By number of repeats in training:"))
            blocks.append(_by_repeats_table(ext["by_repeats"], _EXTRACTION_BY_REPEATS))
        samples = [r for r in UnitLog(sub / "samples" / "extraction.jsonl").rows() if r.get("exact")][:top]
        if samples:
            blocks.append(Paragraph("Examples of extracted text (generated = training suffix):"))
            rows = []
            for r in samples:
                t = str(r.get("generated") or r.get("target") or "")
                rows.append([r.get("id"), r.get("prefix_len"), redact_text(t) if redact else t])
            blocks.append(Table(["id", "prefix_len", "extracted suffix"], rows, text_columns=(2,)))
    if exp:
        blocks.append(Paragraph(f"{label}: canary exposure (Carlini et al. 2019), bits"))
        scalars = [[k, v] for k, v in exp.items() if isinstance(v, int | float | str) and not isinstance(v, bool)]
        blocks.append(Table(["figure", "value"], scalars))
        if isinstance(exp.get("by_repeats"), dict):
            blocks.append(Paragraph("Exposure by number of repeats in training (bits):"))
            blocks.append(_by_repeats_table(exp["by_repeats"], ("n", "mean", "median", "min", "max")))
    if can:
        blocks.append(
            Paragraph(
                f"{label}: canary secrets greedily decoded from their prefixes: exact rate "
                f"{fmt(can.get('exact_extraction_rate'))} over {can.get('n')} canaries"
            )
        )
        if isinstance(can.get("by_repeats"), dict):
            blocks.append(_by_repeats_table(can["by_repeats"], _EXTRACTION_BY_REPEATS))
    return blocks


def _capability_section(run: Path, label: str, sub: Path) -> list:
    for cap_dir in (sub, sub / "sweep"):
        cap = _read_json(cap_dir / "capability.json")
        if cap:
            break
    else:
        return []
    methods = {m: f for m, f in cap.items() if isinstance(f, dict) and not m.startswith("_")}
    if set(methods) <= {"dense"}:  # a comparison checkpoint: measured dense only, nothing was pruned
        rows = [
            [fam, c["accuracy"][0], (c.get("ci") or [None])[0], c.get("n")]
            for fam, c in methods.get("dense", {}).items()
            if isinstance(c, dict) and c.get("accuracy")
        ]
        return [Paragraph(f"{label}: dense accuracy (not pruned)"), Table(["family", "accuracy", "95% CI", "n"], rows)]
    blocks: list = [Paragraph(f"{label}: accuracy against sparsity (Jin et al. 2024 thresholds drawn)")]
    curves = cap_dir / "curves.png"
    blocks.append(Image(curves, f"capability curves, {label}", str(curves.relative_to(run))))
    rows = []
    for method, fams in methods.items():
        for fam, c in fams.items():
            if isinstance(c, dict) and "accuracy" in c:
                pts = ", ".join(f"{s:g}:{a:.2f}" for s, a in zip(c["sparsity"], c["accuracy"], strict=False))
                thr = c.get("threshold_5pct") if method != "dense" else None
                rows.append([method, fam, thr, c.get("n"), pts])
    blocks.append(Table(["method", "family", "threshold (within 5% of dense)", "n", "sparsity:accuracy"], rows))
    meta = cap.get("_meta") if isinstance(cap.get("_meta"), dict) else {}
    gap = meta.get("gap_vs_fact_recall")
    if isinstance(gap, dict) and gap:
        fams = sorted({f for g in gap.values() if isinstance(g, dict) for f in g})
        blocks.append(Paragraph("Threshold minus fact recall's threshold (positive: outlasts fact recall):"))
        blocks.append(Table(["method", *fams], [[m, *[g.get(f) for f in fams]] for m, g in gap.items()]))
    if meta.get("quantized_source"):
        blocks.append(Paragraph("The checkpoint was loaded from a quantized source (GGUF); see the notes."))
    return blocks


def build_document(run: Path, *, redact: bool = False, title: str | None = None, top: int = 5) -> Document:
    manifest = _read_json(run / MANIFEST)
    if not manifest:
        raise InputError(f"{run} has no {MANIFEST}; is it a run directory written by auditor?")
    figs, primary, baseline = checkpoint_figures(run)
    if is_audit(run):
        index = _read_json(run / "audit.json")
        subs = {label: run / rel for label, rel in index["checkpoints"].items()}
    else:
        subs = {"run": run}
    doc = Document(title or ("memaudit release audit" if is_audit(run) else "memaudit report"))
    if redact:
        note = Paragraph("Memorized and extracted texts are shown as length + hash.")
        doc.sections.append(Section("Redacted", [note]))
    doc.sections.append(_summary(run, figs, primary, baseline))
    for name, fn in (
        ("Membership inference", lambda lb, s: _mia_section(run, lb, s, _read_json(s / MANIFEST), redact, top)),
        ("Extraction and exposure", lambda lb, s: _extraction_section(run, lb, s, redact, top)),
        ("Capabilities under pruning", lambda lb, s: _capability_section(run, lb, s)),
    ):
        blocks = [b for label, sub in subs.items() for b in fn(label, sub)]
        if blocks:
            doc.sections.append(Section(name, blocks))
    unlearning = _read_json(run / "unlearning.json")
    if unlearning:
        from auditor.report.unlearning import unlearning_section

        doc.sections.append(unlearning_section(run, unlearning))
    notes = [n for sub in subs.values() for n in _read_json(sub / MANIFEST).get("checkpoint", {}).get("notes", [])]
    if notes:
        doc.sections.append(Section("Notes", [Paragraph(n) for n in dict.fromkeys(notes)]))
    doc.sections.append(Section("Manifest", [Pre(json.dumps(manifest, indent=2, default=str))]))
    return doc


def write_report(run: str | Path, *, redact: bool = False, title: str | None = None) -> Path:
    """Write ``report.html`` and ``report.md`` into the run directory; return the HTML path."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"run directory not found: {run}")
    doc = build_document(run, redact=redact, title=title)
    (run / "report.md").write_text(render_markdown(doc), encoding="utf-8")
    out = run / "report.html"
    out.write_text(render_html(doc), encoding="utf-8")
    return out
