"""The report's first screen: the verdict, what was audited, and the 3-6 figures that decided it.

With a gate verdict (``RUN/gate.json``: the audit's own policy, or one given with ``auditor gate --replace``) the
banner says PASS or FAIL, names the policy it came from (source and SHA-256) and the rules that failed or were
INCONCLUSIVE (too few items to decide); the figures are the rules' figures, failing rules first, then the
inconclusive ones. Without one, the families' headline pick. Each card shows the figure with its 95% CI where
the records have one (a rule on ``.ci_low`` / ``.ci_high`` shows its figure, the rule line names the end it
reads), what it was measured on (``1 of 40 texts (39 too short for prefix + suffix)``), the rule's status, the
baseline's value when there is a baseline checkpoint, its direction and what it means.
"""

from __future__ import annotations

import json
from pathlib import Path

from auditor.report.doc import Card, Cards, Paragraph, Table, Verdict
from auditor.report.evidence import evidence, figure_of, reads_interval
from auditor.report.gate import CI_BOUNDS
from auditor.report.inconclusive import FAIL, INCONCLUSIVE, PASS
from auditor.report.meaning import direction, friendly, headline_paths, is_bits, lookup, meaning
from auditor.report.numbers import Bits, BitsCI, delta, fmt, low_n_fpr
from auditor.report.records import View
from auditor.report.sections import checkpoint_name, read_manifest

MAX_CARDS = 6
ORDER = {FAIL: 0, INCONCLUSIVE: 1, PASS: 2}  # the cards' order: failing rules first, then the undecided


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
    if ci is None and parent.get(f"{key}_ci_note"):
        ci = "n/a"  # too few items to estimate one; the card's evidence line says how many
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


def rule_status(rule: dict) -> str:
    """A rule result's status; a ``gate.json`` written before statuses has only ``passed``."""
    return str(rule.get("status") or (PASS if rule.get("passed") else FAIL))


def _rule_line(rule: dict, figs: dict) -> str:
    """``rule: TEXT``, and for a rule on an end of the interval, which end and its value."""
    line = f"rule: {rule['rule']}"
    if reads_interval(rule["path"]):
        end = "lower" if rule["path"].endswith(".ci_low") else "upper"
        line += f" (reads the CI's {end} end, {fmt(_value(figs, rule['path'])[0])})"
    return line


def card(path: str, figs: dict, base: tuple[str, dict] | None, rule: dict | None = None) -> Card:
    """The card of one figure (``rule``: a ``gate.json`` rule result that checked it): a rule on ``.ci_low`` /
    ``.ci_high`` shows its figure with the interval, and every card says what the figure was measured on."""
    target = figure_of(path)
    value, ci, parent = _value(figs, target)
    status = rule_status(rule) if rule else ""
    lines = [_rule_line(rule, figs)] if rule else []
    lines.append((rule or {}).get("evidence") or evidence(figs, target).line or "n not recorded")
    if rule and status == INCONCLUSIVE and rule.get("reason"):
        lines.append(f"inconclusive: {rule['reason']}")
    lines += _baseline_line(target, value, base) + [direction(path, rule["op"] if rule else None)]
    name = target if rule else friendly(path)
    return Card(name, "not measured" if value is None else value, ci, status, lines, meaning(path, parent))


def fixed_paths(figs: dict) -> list[str]:
    """The headline pick that exists in ``figs``: the figures the families declare as headline
    (:func:`auditor.report.meaning.headline_paths`), at most ``MAX_CARDS``."""
    return headline_paths(figs, MAX_CARDS)


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
        what = (
            "files (sha256 of every byte of config, tokenizer and weights)"
            if str(fp).startswith("sha256:")
            else "weights"
        )
        facts.append((f"{role} {what}", str(fp or "not recorded")))
    facts.append(("run date", str(top.get("created") or "not recorded")))
    return facts


def _policy_fact(gate: dict) -> tuple[str, str]:
    """``("policy", "SOURCE (sha256 0123456789ab)")``: the policy the verdict came from."""
    policy = gate.get("policy") if isinstance(gate.get("policy"), dict) else {}
    if not policy:
        return ("policy", "not recorded")
    sha = str(policy.get("sha256") or "")[:12]
    return ("policy", f"{policy.get('source') or 'given'}" + (f" (sha256 {sha})" if sha else ""))


def _detail(gate: dict, rules: list[dict]) -> str:
    """The banner's sentence: how many rules failed, which were INCONCLUSIVE and what the policy counts them as."""
    statuses = [rule_status(r) for r in rules]
    failed = statuses.count(FAIL)
    unsure = [r["rule"] for r, s in zip(rules, statuses, strict=True) if s == INCONCLUSIVE]
    parts = [f"{failed} of {len(rules)} rules failed"] if failed else []
    if unsure:
        mode = (gate.get("policy") or {}).get("inconclusive", "fail")
        how = "counted as failing" if mode == "fail" else "not counted"
        parts.append(
            f"{len(unsure)} INCONCLUSIVE (too few items to decide; {how}, inconclusive: {mode}): " + ", ".join(unsure)
        )
    return "; ".join(parts) if parts else f"all {len(rules)} rules passed"


def _rule_table(rules: list[dict]) -> list:
    """Every rule of the policy with its status, figure, n and why it was undecided (over ``MAX_CARDS`` rules)."""
    rows = [
        [
            rule_status(r),
            r["rule"],
            r["value"],
            r["threshold"],
            r["baseline"],
            r.get("evidence") or "",
            r.get("reason") if rule_status(r) == INCONCLUSIVE else "",
        ]
        for r in rules
    ]
    headers = ["status", "rule", "value", "threshold", "baseline", "n", "why inconclusive"]
    return [Paragraph("Every rule of the policy:"), Table(headers, rows, text_columns=(6,))]


def first_screen(run: Path, found: list[View], figs: dict[str, dict], primary: str, baseline: str | None) -> list:
    """The verdict banner, the deciding figures as cards, and (over 6 rules) the table of every rule."""
    gate = _gate(run)
    base = (baseline, figs[baseline]) if baseline in figs and baseline != primary else None
    facts = _facts(run, found, primary, baseline if base else None)
    rules = gate.get("rules") or []
    if not gate:
        detail = (
            "No gate policy was checked for this run (auditor gate RUN --policy FILE --replace); the figures "
            "below are the standard headline pick."
        )
        verdict = Verdict("NO POLICY", detail, facts)
        cards = [card(p, figs[primary], base) for p in fixed_paths(figs[primary])]
    else:
        status = gate.get("status") or (PASS if gate.get("passed") else FAIL)
        verdict = Verdict(status, _detail(gate, rules), [*facts, _policy_fact(gate)])
        ordered = sorted(rules, key=lambda r: ORDER.get(rule_status(r), 0))
        cards = [card(r["path"], figs[primary], base, r) for r in ordered[:MAX_CARDS]]
    blocks: list = [verdict, *[Paragraph(w, "fail") for w in gate.get("warnings", [])]]
    blocks.append(Cards(cards) if cards else Paragraph("No headline figure was measured in this run.", "muted"))
    if len(rules) > MAX_CARDS:
        blocks += _rule_table(rules)
    return blocks
