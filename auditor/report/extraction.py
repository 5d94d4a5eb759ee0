"""The report's extraction and exposure section: discoverable extraction, canary extraction and exposure,
untargeted extraction; every checkpoint side by side, with plots of extraction rate and exposure against
the number of times a text was repeated in training."""

from __future__ import annotations

from pathlib import Path

from auditor.report.doc import Paragraph, Table
from auditor.report.numbers import Bits
from auditor.report.plots import plot_by_repeats, plot_path
from auditor.report.records import View, samples
from auditor.report.redact import redact_text
from auditor.report.sections import image, side_by_side, with_checkpoint
from auditor.store.record_tree import is_evidence

EXTRACTION_COLUMNS = ("n", "exact_extraction_rate", "approx_extraction_rate", "token_match")
BITS_KEYS = ("mean", "max", "max_possible")  # exposure figures in bits


def _order(key: str) -> float:
    try:
        return float(key)
    except ValueError:
        return float("inf")


def _scalars(d: dict, bits: tuple[str, ...] = ()) -> dict:
    """A mapping's figures and intervals for a table (``n`` is its own column; the per-figure ``_n``,
    ``_skipped`` and ``_low_n`` siblings are the cards' evidence, not rows)."""
    keep = {k: v for k, v in d.items() if not isinstance(v, dict) and (k.endswith("_ci") or not is_evidence(k))}
    return {k: Bits(v) if k in bits and isinstance(v, int | float) else v for k, v in keep.items()}


def _keyed_rows(d: dict, columns: tuple[str, ...], bits: tuple[str, ...] = ()) -> list[list]:
    return [[k, *[_scalars(d[k], bits).get(c) for c in columns]] for k in sorted(d, key=_order)]


def _by(figs: dict[str, dict], family: str, key: str) -> dict[str, dict]:
    """``{label: figs[label][family][key]}`` of the checkpoints that have it."""
    return {lb: f[family][key] for lb, f in figs.items() if f.get(family, {}).get(key)}


EXPOSURE_INTRO = (
    "Canary exposure (Carlini et al. 2019), in bits: how far up the model ranks each planted canary among all "
    "candidates. About 1 bit for a canary it never saw (ranked mid-way); the ceiling, max_possible = "
    "log2(number of candidate secrets), means the canary ranks first (lower is better)."
)


def _figure_table(figs: dict[str, dict], family: str, intro: str, bits: tuple[str, ...] = ()) -> list:
    """The intro and the side-by-side table of a family's scalar figures, or [] when no checkpoint has them."""
    per = {lb: _scalars(f[family], bits) for lb, f in figs.items() if f.get(family)}
    if not per:
        return []
    keys = list(dict.fromkeys(k for d in per.values() for k in d))
    return [Paragraph(intro), side_by_side("figure", per, keys)]


def _breakdown(
    figs: dict[str, dict],
    family: str,
    key: str,
    columns: tuple[str, ...] = EXTRACTION_COLUMNS,
    bits: tuple[str, ...] = (),
) -> Table | None:
    """One row per ``key`` value (prefix length, repeats) and checkpoint, or None when no checkpoint has it."""
    by = _by(figs, family, key)
    if not by:
        return None
    rows = {lb: _keyed_rows(d, columns, bits) for lb, d in by.items()}
    return with_checkpoint([key.removeprefix("by_"), *columns], rows)


def _curve(by_repeats: dict, metric: str) -> list[tuple[float, float]]:
    pts = [(_order(k), v.get(metric)) for k, v in by_repeats.items()]
    return [(x, float(y)) for x, y in pts if x != float("inf") and isinstance(y, int | float)]


def _examples(found: list[View], salt: bytes | None, top: int) -> list:
    rows: dict[str, list[list]] = {}
    for v in found:
        hits = [r for r in samples(v, "extraction") if r.get("exact")][:top]
        for r in hits:
            t = str(r.get("generated") or r.get("target") or "")
            cell = redact_text(t, salt) if salt is not None else t
            rows.setdefault(v.label, []).append([r.get("id"), r.get("prefix_len"), cell])
    if not rows:
        return []
    table = with_checkpoint(["id", "prefix_len", "extracted suffix"], rows)
    table.text_columns = (len(table.headers) - 1,)
    return [Paragraph("Examples of extracted text (generated = training suffix):"), table]


def _discoverable(run: Path, figs: dict[str, dict]) -> list:
    intro = (
        "Discoverable extraction: a k-token prefix of a training text, greedy m-token suffix; exact rate = "
        "share reproduced verbatim (lower is better)."
    )
    blocks = _figure_table(figs, "extraction", intro)
    if not blocks:
        return []
    for key, title in (("by_prefix_len", "By prefix length:"), ("by_repeats", "By number of repeats in training:")):
        table = _breakdown(figs, "extraction", key)
        blocks += [Paragraph(title), table] if table else []
    return blocks


def _rate_plot(run: Path, figs: dict[str, dict]) -> list:
    lines = {}
    for fam, what in (("extraction_canaries", "canaries"), ("extraction", "training texts")):
        for lb, d in _by(figs, fam, "by_repeats").items():
            name = what if len(figs) == 1 else f"{lb}, {what}"
            lines[name] = _curve(d, "exact_extraction_rate")
    path = plot_by_repeats(lines, "exact extraction rate", plot_path(run, "extraction_by_repeats"), limits=(0.0, 1.0))
    return image(run, path, "exact extraction rate against repeats in training")


def _canaries(figs: dict[str, dict]) -> list:
    blocks = _figure_table(
        figs,
        "extraction_canaries",
        "Canary extraction: planted secrets greedily decoded from their prefixes (lower is better).",
    )
    table = _breakdown(figs, "extraction_canaries", "by_repeats") if blocks else None
    return blocks + ([table] if table else [])


def _exposure(run: Path, figs: dict[str, dict]) -> list:
    blocks = _figure_table(figs, "exposure", EXPOSURE_INTRO, BITS_KEYS)
    table = _breakdown(figs, "exposure", "by_repeats", ("n", "mean", "max"), BITS_KEYS) if blocks else None
    if table:
        blocks += [Paragraph("Exposure by number of repeats in training (bits):"), table]
        by_rep = _by(figs, "exposure", "by_repeats")
        lines = {
            (m if len(figs) == 1 else f"{lb}, {m}"): _curve(d, m) for lb, d in by_rep.items() for m in ("mean", "max")
        }
        tops = [f["exposure"].get("max_possible") for f in figs.values() if f.get("exposure")]
        ceiling = max((t for t in tops if isinstance(t, int | float)), default=None)
        path = plot_by_repeats(lines, "exposure (bits)", plot_path(run, "exposure_by_repeats"), ceiling=ceiling)
        blocks += image(run, path, "exposure against repeats in training")
    return blocks


def _untargeted(figs: dict[str, dict]) -> list:
    blocks: list = []
    for label, f in figs.items():
        unt = f.get("untargeted", {})
        if not unt:
            continue
        blocks.append(Paragraph(f"{label}: untargeted extraction (verbatim training text among generations)"))
        flat = _scalars(unt)
        if flat:
            blocks.append(Table(["figure", "value"], [[k, v] for k, v in flat.items()]))
        rankings = {k: v for k, v in unt.items() if isinstance(v, dict)}
        if rankings:
            cols = tuple(sorted({c for v in rankings.values() for c in v}))
            blocks.append(Table(["ranking", *cols], [[k, *[v.get(c) for c in cols]] for k, v in rankings.items()]))
    return blocks


def extraction_section(run: Path, found: list[View], figs: dict[str, dict], salt: bytes | None, top: int) -> list:
    """Extraction, canary extraction, exposure and untargeted extraction of every checkpoint (texts redacted with
    ``salt`` unless it is None)."""
    blocks = _discoverable(run, figs) + _examples(found, salt, top) + _canaries(figs)
    blocks += _rate_plot(run, figs) if blocks else []
    return blocks + _exposure(run, figs) + _untargeted(figs)
