"""The report's first screen: the verdict, what was audited, and the 3-6 figures that decided it.

With a gate policy (``RUN/gate.json``) the figures are the rules' figures, failing rules first; without one,
a fixed pick: MIA LOSS AUC, the best Min-K%++ AUC, the canary exact extraction rate, the max exposure and the
fact recall / ICL accuracies when measured. Each figure shows its value with its 95% CI where the records
have one, the baseline's value when there is a baseline checkpoint, its direction and what it means.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.report.doc import Card, Cards, Paragraph, Table, Verdict
from auditor.report.gate import CI_BOUNDS
from auditor.report.meaning import direction, friendly, is_bits, lookup, meaning
from auditor.report.numbers import Bits, BitsCI, delta, fmt, low_n_fpr
from auditor.report.records import View
from auditor.report.sections import checkpoint_name, read_manifest

MAX_CARDS = 6
FIXED = (
    "mia.loss.auc",
    "mia.<min_k_pp>.auc",
    "extraction_canaries.exact_extraction_rate",
    "exposure.max",
    "capability.fact_recall.accuracy",
    "capability.icl_classification.accuracy",
)
FALLBACK = ("mia.<best>.auc", "extraction.exact_extraction_rate", "exposure.mean")


def _gate(run: Path) -> dict:
    try:
        return json.loads((run / "gate.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _value(figs: dict, path: str) -> tuple[object, object, dict]:
    """``(value, CI, the mapping holding it)`` of ``path``: bits wrapped, a TPR at too low an FPR n/a; for
    ``<figure>.ci_low`` / ``.ci_high`` the value is that end of the figure's interval."""
    bound = next((i for end, i in CI_BOUNDS.items() if path.endswith("." + end)), None)
    target = path.rsplit(".", 1)[0] if bound is not None else path
    found = lookup(figs, target)
    if not found:
        return None, None, {}
    parent, key = found
    value, ci = parent[key], parent.get(f"{key}_ci")
    if bound is not None:
        value = ci[bound] if isinstance(ci, list | tuple) and len(ci) == 2 else None
    if key.startswith("tpr@") and (na := low_n_fpr(parent.get("n_nonmembers"), _fpr(key))):
        return na, None, parent
    if is_bits(target) and isinstance(value, int | float):
        value = Bits(value)
        ci = BitsCI(*ci) if isinstance(ci, list | tuple) and len(ci) == 2 else None
    return value, ci, parent


def _fpr(key: str) -> float:
    return float(key[4:].split("%")[0]) / 100


def _baseline_line(path: str, value: object, base: tuple[str, dict] | None) -> list[str]:
    if base is None:
        return []
    label, figs = base
    b, _, _ = _value(figs, path)
    if b is None:
        return [f"baseline {label}: not measured"]
    d = delta(value, b, bits=is_bits(path))
    return [f"baseline {label}: {fmt(b)}" + (f" (change {d})" if d else "")]


def card(path: str, figs: dict, base: tuple[str, dict] | None, rule: dict | None = None) -> Card:
    """The card of one figure (``rule``: a ``gate.json`` rule result that checked it)."""
    value, ci, parent = _value(figs, path)
    lines = []
    if rule:
        lines.append(f"rule: {rule['rule']}")
    lines += _baseline_line(path, value, base) + [direction(path, rule["op"] if rule else None)]
    status = ("PASS" if rule["passed"] else "FAIL") if rule else ""
    name = path if rule else friendly(path)
    return Card(name, "not measured" if value is None else value, ci, status, lines, meaning(path, parent))


def fixed_paths(figs: dict) -> list[str]:
    """The headline pick that exists in ``figs`` (at least 3 when the run measured that many)."""
    mia = {a: r for a, r in figs.get("mia", {}).items() if isinstance(r.get("auc"), int | float)}
    pp = [a for a in mia if a.startswith("min_k_pp")]
    best = max((a for a in mia if a != "blind_baseline"), key=lambda a: mia[a]["auc"], default=None)
    subs = {"<min_k_pp>": max(pp, key=lambda a: mia[a]["auc"]) if pp else None, "<best>": best}
    out: list[str] = []
    for pattern in FIXED + FALLBACK:
        if pattern in FALLBACK and len(out) >= 3:
            break
        for sub, attack in subs.items():
            pattern = pattern.replace(sub, attack or "\0")
        if "\0" not in pattern and pattern not in out and _value(figs, pattern)[0] is not None:
            out.append(pattern)
    return out[:MAX_CARDS]


def _facts(run: Path, found: list[View], primary: str, baseline: str | None) -> list[tuple[str, str]]:
    top = read_manifest(run)
    by = {v.label: v for v in found}
    facts = []
    for role, label in (("checkpoint", primary), ("baseline", baseline)):
        view = by.get(label or "")
        if view is None:
            continue
        ck = read_manifest(view.path).get("checkpoint", {})
        name = checkpoint_name(view)
        source = ck.get("source")
        facts.append((role, f"{name} ({source})" if source and source != name else name))
        fp = ck.get("fingerprint") or top.get("identity", {}).get(f"checkpoint.{view.checkpoint}.fingerprint")
        facts.append((f"{role} weights", str(fp or "not recorded")))
    facts.append(("run date", str(top.get("created") or "not recorded")))
    return facts


def first_screen(run: Path, found: list[View], figs: dict[str, dict], primary: str, baseline: str | None) -> list:
    """The verdict banner, the deciding figures as cards, and (over 6 rules) the table of every rule."""
    gate = _gate(run)
    base = (baseline, figs[baseline]) if baseline in figs and baseline != primary else None
    facts = _facts(run, found, primary, baseline if base else None)
    rules = gate.get("rules") or []
    if not gate:
        verdict = Verdict("NO POLICY", "No gate policy was checked for this run (auditor gate RUN --policy FILE); "
                          "the figures below are the standard headline pick.", facts)  # fmt: skip
        cards = [card(p, figs[primary], base) for p in fixed_paths(figs[primary])]
    else:
        n_failed = sum(not r.get("passed", False) for r in rules)
        detail = f"{n_failed} of {len(rules)} rules failed" if n_failed else f"all {len(rules)} rules passed"
        verdict = Verdict("PASS" if gate.get("passed") else "FAIL", detail, facts)
        ordered = sorted(rules, key=lambda r: bool(r.get("passed")))  # failing rules first
        cards = [card(r["path"], figs[primary], base, r) for r in ordered[:MAX_CARDS]]
    blocks: list = [verdict, *[Paragraph(w, "fail") for w in gate.get("warnings", [])]]
    blocks.append(Cards(cards) if cards else Paragraph("No headline figure was measured in this run.", "muted"))
    if len(rules) > MAX_CARDS:
        rows = [
            ["PASS" if r["passed"] else "FAIL", r["rule"], r["value"], r["threshold"], r["baseline"]] for r in rules
        ]
        blocks += [
            Paragraph("Every rule of the policy:"),
            Table(["result", "rule", "value", "threshold", "baseline"], rows),
        ]
    return blocks
