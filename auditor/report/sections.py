"""The report's membership-inference and capability sections, every checkpoint side by side in one table.

Built from each view's figures (records) and samples. Shared helpers for the other section builders live
here too: :func:`image`, :func:`checkpoint_name`, :func:`side_by_side`, :func:`with_checkpoint`.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.capability.curves import by_family, capability_curves, pruned, threshold_gaps
from auditor.inputs.data import load_texts
from auditor.report.doc import Gallery, Image, Paragraph, Table
from auditor.report.numbers import low_n_fpr
from auditor.report.plots import plot_capability, plot_path, plot_roc
from auditor.report.records import View, samples
from auditor.report.redact import redact_text
from auditor.stats.metrics import TPR_FPRS, low_n_note
from auditor.store.runs import MANIFEST

SHIPPED_LAB = Path(__file__).resolve().parents[1] / "lab" / "standard"  # auditor.lab.build.SHIPPED_DIR, no import


def image(run: Path, path: Path | None, alt: str) -> list:
    return [Image(path, alt, str(path.relative_to(run)))] if path else []


def checkpoint_name(view: View) -> str:
    """The name a reader knows a view's checkpoint by: the name set for it, its audit label, else its records'
    label or source."""
    if view.name:
        return view.name
    if view.label != "run":
        return view.label
    ck = view.checkpoint if view.checkpoint not in (None, "model") else None
    return ck or str(read_manifest(view.path).get("checkpoint", {}).get("source") or "model")


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def side_by_side(first: str, per_view: dict[str, dict], keys: list[str]) -> Table:
    """One row per key, one column per checkpoint: ``per_view`` is ``{label: {key: value}}``."""
    labels = list(per_view)
    return Table([first, *labels], [[k, *[per_view[lb].get(k) for lb in labels]] for k in keys])


def with_checkpoint(headers: list[str], rows: dict[str, list[list]]) -> Table:
    """One table of every checkpoint's rows, a leading ``checkpoint`` column when there are several."""
    if len(rows) == 1:
        return Table(headers, next(iter(rows.values())))
    return Table(["checkpoint", *headers], [[lb, *r] for lb, rs in rows.items() for r in rs])


def member_texts(manifest: dict) -> dict[str, str]:
    """id -> text of the member/non-member files the run was given (for the top-scoring table)."""
    cfg = manifest.get("config", {})
    mia = cfg.get("mia") if isinstance(cfg.get("mia"), dict) else {}
    paths = [mia.get("members"), mia.get("nonmembers"), cfg.get("members"), cfg.get("nonmembers")]
    if cfg.get("lab"):
        lab = SHIPPED_LAB if cfg["lab"] == "standard" else Path(cfg["lab"])
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


BLIND = "blind_baseline"


def shift_note(mia: dict) -> list:
    """One sentence on the blind baseline (Das et al. 2024): whether the split itself gives members away."""
    b = mia.get(BLIND)
    if not b or b.get("auc") is None:
        return []
    best = max((r.get("auc") or 0 for a, r in mia.items() if a != BLIND), default=0.0)
    if b.get("shifted"):
        return [
            Paragraph(
                f"Shifted split: the blind baseline, a classifier that never sees the model, separates members from "
                f"non-members with AUC {b['auc']:.3f} (best attack {best:.3f}). The attack AUCs measure how the two "
                "text sets differ, not what the model memorized (Das et al. 2024); use members and non-members drawn "
                "from one distribution before reading them as memorization."
            )
        ]
    return [
        Paragraph(
            f"The blind baseline (model-free, Das et al. 2024) reaches AUC {b['auc']:.3f}, below the best attack's "
            f"{best:.3f}: the split does not give members away by itself."
        )
    ]


def low_n_notes(mia: dict) -> list:
    """A note per TPR@FPR measured on fewer than 1/FPR non-members (``<metric>_low_n`` in the records), naming
    the attacks when not all of them are affected."""
    found: dict[tuple[str, int], list[str]] = {}
    for attack, r in mia.items():
        for metric in TPR_FPRS:
            if r.get(f"{metric}_low_n") and isinstance(r.get("n_nonmembers"), int):
                found.setdefault((metric, r["n_nonmembers"]), []).append(attack)
    notes = []
    for (metric, n), attacks in found.items():
        which = "" if len(attacks) == len(mia) else f" ({', '.join(attacks)})"
        notes.append(Paragraph(f"{low_n_note(metric, n)}{which}.", "muted"))
    return notes


def _ci_cell(r: dict, metric: str) -> object:
    """A figure's interval, or ``n/a`` when it was not estimable (the reason is in :func:`ci_notes`)."""
    ci = r.get(f"{metric}_ci")
    return "n/a" if ci is None and r.get(f"{metric}_ci_note") else ci


def ci_notes(mia: dict) -> list:
    """One note per distinct reason an attack's interval is missing or not a bootstrap one (``<metric>_ci_note``)."""
    found = dict.fromkeys(str(v) for r in mia.values() for k, v in r.items() if str(k).endswith("_ci_note") and v)
    return [Paragraph(f"95% CI: {note}.", "muted") for note in found]


MIA_HEADERS = ["attack", "AUC", "95% CI", "TPR@1%FPR", "95% CI", "TPR@0.1%FPR", "95% CI", "members", "non-members"]


def mia_rows(mia: dict) -> list[list]:
    """One row per attack; a TPR at an FPR below 1/n_nonmembers is ``n/a (needs >= N non-members)``."""
    rows = []
    for attack, r in mia.items():
        row: list = [attack, r.get("auc"), _ci_cell(r, "auc")]
        for metric, fpr in TPR_FPRS.items():
            na = low_n_fpr(r.get("n_nonmembers"), fpr)
            row += [na, "n/a"] if na else [r.get(metric), _ci_cell(r, metric)]
        rows.append([*row, r.get("n_members"), r.get("n_nonmembers")])
    return rows


def _top_texts(view: View, mia: dict, scores: list[dict], salt: bytes | None, top: int) -> list[list]:
    attacks = [a for a in mia if a != BLIND]
    if not attacks or not scores:
        return []
    best = max(attacks, key=lambda a: mia[a].get("auc") or 0)
    texts = member_texts(read_manifest(view.path))
    members = sorted((r for r in scores if r.get("label") == 1), key=lambda r: -r["scores"].get(best, 0))[:top]
    rows = []
    for r in members:
        t = texts.get(r["id"], "")
        rows.append([r["id"], best, r["scores"].get(best), redact_text(t, salt) if salt is not None and t else t])
    return rows


def mia_section(run: Path, found: list[View], figs: dict[str, dict], salt: bytes | None, top: int) -> list:
    """Attack table, one ROC plot per checkpoint and the top-scoring member texts (redacted unless ``salt`` is
    None), every checkpoint in the same table."""
    with_mia = [v for v in found if figs[v.label].get("mia")]
    if not with_mia:
        return []
    blocks: list = [
        Paragraph(
            "Higher score = more likely a training member. AUC 0.5: the attack cannot tell members from non-members; "
            "1.0: it always can. TPR at a low FPR: the share of members caught while wrongly flagging that share of "
            "non-members (needs at least 1/FPR non-members to be measured)."
        )
    ]
    blocks.append(with_checkpoint(MIA_HEADERS, {v.label: mia_rows(figs[v.label]["mia"]) for v in with_mia}))
    notes = [n for v in with_mia for n in low_n_notes(figs[v.label]["mia"]) + ci_notes(figs[v.label]["mia"])]
    blocks += list({n.text: n for n in notes}.values())
    for v in with_mia:
        shift = shift_note(figs[v.label]["mia"])
        blocks += [Paragraph(f"{v.label}: {p.text}" if len(with_mia) > 1 else p.text, p.css) for p in shift]
    images, texts = [], {}
    for v in with_mia:
        mia, scores = figs[v.label]["mia"], samples(v, "mia_scores")
        attacks = [a for a in mia if a != BLIND]
        path = plot_roc(scores, attacks, plot_path(run, f"{v.label}-mia_roc"), f"ROC, {checkpoint_name(v)}")
        images += image(run, path, f"ROC curves, {v.label}")
        texts[v.label] = _top_texts(v, mia, scores, salt, top)
    if images:
        blocks.append(Gallery(images))
    if any(texts.values()):
        blocks.append(Paragraph("Top-scoring member texts under each checkpoint's best attack:"))
        table = with_checkpoint(["id", "attack", "score", "text"], {k: r for k, r in texts.items() if r})
        table.text_columns = (len(table.headers) - 1,)
        blocks.append(table)
    return blocks


def dense_capability_section(found: list[View], figs: dict[str, dict]) -> list:
    """Dense accuracy per capability family, one column per checkpoint (with its 95% CI and n)."""
    per = {v.label: figs[v.label].get("capability", {}) for v in found}
    fams = list(dict.fromkeys(f for cap in per.values() for f in cap))
    if not fams:
        return []
    rows = []
    for fam in fams:
        cells = []
        for cap in per.values():
            c = cap.get(fam, {})
            cells += [c.get("accuracy"), c.get("accuracy_ci"), c.get("n")]
        rows.append([fam, *cells])
    heads = (
        [h for lb in per for h in (f"{lb} accuracy", "95% CI", "n")] if len(per) > 1 else ["accuracy", "95% CI", "n"]
    )
    return [
        Paragraph("Accuracy of the unpruned checkpoint on each capability family (higher is better)."),
        Table(["family", *heads], rows),
    ]


def capability_section(run: Path, found: list[View], figs: dict[str, dict]) -> list:
    """Accuracy against sparsity for each checkpoint that was pruned, with Jin et al.'s 5% thresholds (the curves
    of :mod:`auditor.capability.curves`, as ``capability.json`` holds them)."""
    blocks: list = []
    for v in found:
        curves = pruned(capability_curves(v.rows))
        if not curves:
            continue
        label = v.label
        blocks.append(Paragraph(f"{label}: accuracy against sparsity (Jin et al. 2024 5% thresholds dotted)"))
        blocks += image(run, plot_capability(curves, plot_path(run, f"{label}-capability")), f"capability, {label}")
        rows = []
        for fam, by_method in by_family(curves).items():
            for method, c in by_method.items():
                pts = ", ".join(f"{s:g}:{a:.3f}" for s, a in zip(c["sparsity"], c["accuracy"], strict=True))
                rows.append([method, fam, c["threshold_5pct"], c["n"], pts])
        heads = ["method", "family", "threshold (within 5% of dense)", "n", "sparsity:accuracy"]
        blocks.append(Table(heads, rows))
        blocks += _gap(curves)
    return blocks


def _gap(curves: dict[str, dict[str, dict]]) -> list:
    gaps = threshold_gaps(curves)
    gap = [[m, fam, g] for fam, by_method in by_family(gaps).items() for m, g in by_method.items()]
    if not gap:
        return []
    return [
        Paragraph("Threshold minus fact recall's threshold (positive: outlasts fact recall):"),
        Table(["method", "family", "gap"], gap),
    ]
