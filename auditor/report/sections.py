"""The report's per-checkpoint sections, from one view's figures (records) and samples: MIA, extraction and
exposure, capability under pruning."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from auditor.data import load_texts
from auditor.metrics import TPR_FPRS, low_n_note
from auditor.report.doc import Image, Paragraph, Table, fmt
from auditor.report.figures import capability_curves
from auditor.report.plots import plot_capability, plot_path, plot_roc
from auditor.report.records import View, samples

SHIPPED_LAB = Path(__file__).resolve().parents[1] / "lab" / "standard"  # auditor.lab.build.SHIPPED_DIR, no import
EXTRACTION_COLUMNS = ("n", "exact_extraction_rate", "approx_extraction_rate", "token_match")


SALT_BYTES = 16
LENGTH_BUCKETS = (16, 64, 256, 1024)  # redact_text says "under N chars" for the first bound above the length


def new_salt() -> bytes:
    """A fresh redaction salt: ``build_document`` draws one per document and never writes it out."""
    return secrets.token_bytes(SALT_BYTES)


def _length_bucket(n: int) -> str:
    bound = next((b for b in LENGTH_BUCKETS if n < b), None)
    return f"under {bound} chars" if bound else f"{LENGTH_BUCKETS[-1]}+ chars"


def redact_text(text: str, salt: bytes) -> str:
    """``[redacted: under 64 chars, tag 0123abcd4567]``: which rows hold the same text, and nothing to read.

    The tag is HMAC-SHA256 of the text keyed with ``salt`` (a per-report random secret from
    :func:`new_salt`), cut to 12 hex digits. Within one report equal texts get equal tags, so a reader can
    see that two rows hold the same text; without the salt a tag cannot be checked against a guess (an
    unsalted hash of a 4-digit secret falls to 10^4 tries), and tags differ between reports. The price:
    a tag can no longer be matched against a file. The length is deliberately not given exactly, only as
    a coarse bucket (under 16, 64, 256 or 1024 chars, or 1024+), which narrows no guess to one length.
    """
    if len(salt) < SALT_BYTES:
        raise ValueError(f"a redaction salt needs at least {SALT_BYTES} random bytes (new_salt())")
    tag = hmac.new(salt, text.encode("utf-8"), hashlib.sha256).hexdigest()[:12]
    return f"[redacted: {_length_bucket(len(text))}, tag {tag}]"


def image(run: Path, path: Path | None, alt: str) -> list:
    return [Image(path, alt, str(path.relative_to(run)))] if path else []


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
        return [Paragraph(
            f"Shifted split: the blind baseline, a classifier that never sees the model, separates members from "
            f"non-members with AUC {b['auc']:.3f} (best attack {best:.3f}). The attack AUCs measure how the two "
            "text sets differ, not what the model memorized (Das et al. 2024); use members and non-members drawn "
            "from one distribution before reading them as memorization.")]  # fmt: skip
    return [Paragraph(
        f"The blind baseline (model-free, Das et al. 2024) reaches AUC {b['auc']:.3f}, below the best attack's "
        f"{best:.3f}: the split does not give members away by itself.")]  # fmt: skip


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


def mia_section(run: Path, view: View, figs: dict, manifest: dict, salt: bytes | None, top: int) -> list:
    """Attack table, ROC curves and the top-scoring member texts (redacted with ``salt`` unless it is None)."""
    mia = figs.get("mia", {})
    if not mia:
        return []
    label = view.label
    blocks: list = [Paragraph(f"{label}: membership inference (higher score = more likely a member)")]
    keys = ("auc", "auc_ci", "tpr@1%fpr", "tpr@1%fpr_ci", "tpr@0.1%fpr", "tpr@0.1%fpr_ci", "n_members", "n_nonmembers")
    rows = [[a, *[r.get(k) for k in keys]] for a, r in mia.items()]
    heads = ["AUC", "95% CI", "TPR@1%FPR", "95% CI", "TPR@0.1%FPR", "95% CI", "members", "non-members"]
    blocks.append(Table(["attack", *heads], rows))
    blocks += low_n_notes(mia) + shift_note(mia)
    scores = samples(view, "mia_scores")
    attacks = [a for a in mia if a != BLIND]
    blocks += image(run, plot_roc(scores, attacks, plot_path(run, f"{label}-mia_roc")), f"ROC curves, {label}")
    if not attacks:
        return blocks
    best = max(attacks, key=lambda a: mia[a].get("auc") or 0)
    if scores:
        texts = member_texts(manifest)
        members = sorted((r for r in scores if r.get("label") == 1), key=lambda r: -r["scores"].get(best, 0))[:top]
        rows = []
        for r in members:
            t = texts.get(r["id"], "")
            rows.append([r["id"], r["scores"].get(best), redact_text(t, salt) if salt is not None and t else t])
        blocks.append(Paragraph(f"Top-scoring member texts under {best}:"))
        blocks.append(Table(["id", f"{best} score", "text"], rows, text_columns=(2,)))
    return blocks


def _order(key: str) -> float:
    try:
        return float(key)
    except ValueError:
        return float("inf")


def keyed_table(first: str, d: dict, columns: tuple[str, ...]) -> Table:
    rows = [[k, *[d[k].get(c) for c in columns]] for k in sorted(d, key=_order)]
    return Table([first, *columns], rows)


def scalars(d: dict) -> Table:
    return Table(["figure", "value"], [[k, v] for k, v in d.items() if not isinstance(v, dict)])


def _extraction(view: View, ext: dict, salt: bytes | None, top: int) -> list:
    blocks: list = [Paragraph(f"{view.label}: discoverable extraction (k-token prefix, greedy m-token suffix)")]
    blocks.append(scalars(ext))
    if ext.get("by_prefix_len"):
        blocks += [Paragraph("By prefix length:"), keyed_table("prefix_len", ext["by_prefix_len"], EXTRACTION_COLUMNS)]
    if ext.get("by_repeats"):
        blocks.append(Paragraph("By number of repeats in training:"))
        blocks.append(keyed_table("repeats", ext["by_repeats"], EXTRACTION_COLUMNS))
    found = [r for r in samples(view, "extraction") if r.get("exact")][:top]
    if found:
        blocks.append(Paragraph("Examples of extracted text (generated = training suffix):"))
        rows = []
        for r in found:
            t = str(r.get("generated") or r.get("target") or "")
            rows.append([r.get("id"), r.get("prefix_len"), redact_text(t, salt) if salt is not None else t])
        blocks.append(Table(["id", "prefix_len", "extracted suffix"], rows, text_columns=(2,)))
    return blocks


def _untargeted(label: str, unt: dict) -> list:
    if not unt:
        return []
    blocks: list = [Paragraph(f"{label}: untargeted extraction (verbatim training text among generations)")]
    if any(not isinstance(v, dict) for v in unt.values()):
        blocks.append(scalars(unt))
    rankings = {k: v for k, v in unt.items() if isinstance(v, dict)}
    if rankings:
        cols = tuple(sorted({c for v in rankings.values() for c in v}))
        blocks.append(Table(["ranking", *cols], [[k, *[v.get(c) for c in cols]] for k, v in rankings.items()]))
    return blocks


def extraction_section(view: View, figs: dict, salt: bytes | None, top: int) -> list:
    """Extraction, canary exposure and untargeted extraction (texts redacted with ``salt`` unless it is None)."""
    ext, exp, can = figs.get("extraction"), figs.get("exposure"), figs.get("extraction_canaries")
    blocks: list = _extraction(view, ext, salt, top) if ext else []
    if exp:
        blocks.append(Paragraph(f"{view.label}: canary exposure (Carlini et al. 2019), bits"))
        blocks.append(scalars(exp))
        if exp.get("by_repeats"):
            blocks.append(Paragraph("Exposure by number of repeats in training (bits):"))
            blocks.append(keyed_table("repeats", exp["by_repeats"], ("n", "mean", "max")))
    if can:
        rate, n = fmt(can.get("exact_extraction_rate")), can.get("n")
        msg = f"{view.label}: canary secrets greedily decoded from their prefixes: exact rate {rate} over {n} canaries"
        blocks.append(Paragraph(msg))
        if can.get("by_repeats"):
            blocks.append(keyed_table("repeats", can["by_repeats"], EXTRACTION_COLUMNS))
    return blocks + _untargeted(view.label, figs.get("untargeted", {}))


def capability_section(run: Path, view: View, figs: dict) -> list:
    cap = figs.get("capability", {})
    if not cap:
        return []
    curves = capability_curves(view.rows)
    label = view.label
    dense = [[fam, c.get("accuracy"), c.get("accuracy_ci"), c.get("n")] for fam, c in cap.items()]
    if not curves:  # measured dense only, nothing was pruned
        return [Paragraph(f"{label}: dense accuracy (not pruned)"), Table(["family", "accuracy", "95% CI", "n"], dense)]
    blocks: list = [Paragraph(f"{label}: accuracy against sparsity (Jin et al. 2024 5% thresholds dotted)")]
    blocks += image(run, plot_capability(curves, plot_path(run, f"{label}-capability")), f"capability, {label}")
    rows = []
    for fam, by_method in curves.items():
        for method, c in by_method.items():
            pts = ", ".join(f"{s:g}:{a:.2f}" for s, a in zip(c["sparsity"], c["accuracy"], strict=True))
            rows.append([method, fam, c["threshold_5pct"], cap.get(fam, {}).get("n"), pts])
    blocks.append(Table(["method", "family", "threshold (within 5% of dense)", "n", "sparsity:accuracy"], rows))
    gap = [
        [m, fam, c["threshold_5pct"] - fr[m]["threshold_5pct"]]
        for fam, by_method in curves.items()
        if fam != "fact_recall" and (fr := curves.get("fact_recall"))
        for m, c in by_method.items()
        if m in fr and c["threshold_5pct"] is not None and fr[m]["threshold_5pct"] is not None
    ]
    if gap:
        blocks.append(Paragraph("Threshold minus fact recall's threshold (positive: outlasts fact recall):"))
        blocks.append(Table(["method", "family", "gap"], gap))
    return blocks
