"""The release gate: check a run's figures against a policy of threshold rules; PASS, FAIL or INCONCLUSIVE.

A policy (:mod:`auditor.report.policy`) is YAML with ``rules:``, a list of strings ``PATH OP VALUE``::

    rules:
      - mia.min_k_pp@0.2.auc <= 0.6
      - mia.loss.auc.ci_low <= 0.6
      - extraction.exact_extraction_rate@32 <= 0.01 (n >= 100)
      - exposure.rank1_rate <= 0.1
      - capability.fact_recall.accuracy >= 0.9 * baseline
    min_n: 10             # the default
    inconclusive: fail    # the default

``PATH`` addresses a figure of the run (see :func:`auditor.report.figures.collect_figures`); keys may contain
dots (``min_k_pp@0.2``), so each step matches the longest key that fits. A figure recorded with its 95% interval
(a sibling ``<figure>_ci`` list, ``docs/records.md``) also has ``<figure>.ci_low`` and ``<figure>.ci_high``:
``mia.loss.auc.ci_low <= 0.6`` fails only when the whole interval lies above 0.6. ``OP`` is one of
``<=``, ``<``, ``>=``, ``>``. ``VALUE`` is a number, or ``[NUMBER *] baseline [+|- NUMBER]``, where
``baseline`` is the same figure on the run's baseline checkpoint (an audit's ``baseline:``).

A rule is INCONCLUSIVE, neither PASS nor FAIL, when its figure has too few items to decide
(:mod:`auditor.report.inconclusive`): it was not measured (n = 0, or no value), it was measured on fewer than
``min_n`` items (the rule's ``(n >= N)``, else the policy's ``min_n``, default 10; a figure whose records do not
say their n is not held to it), it is a TPR at an FPR below 1/#non-members, or the rule reads the figure itself
(not ``.ci_low`` / ``.ci_high``) and its 95% interval straddles the threshold. The verdict is PASS when every
rule passes, or when none fails and the policy says ``inconclusive: pass``; else FAIL (exit 1).

A threshold outside the figure's possible range (:func:`auditor.report.figures.figure_range`) gets a ``WARN``
line: such a rule can never fail (``exposure.max <= 20`` with 4-digit secrets, whose exposure is at most 13.29
bits) or never pass.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from auditor.errors import InputError
from auditor.report.evidence import evidence
from auditor.report.figures import longest_key
from auditor.report.gate_warnings import exposure_ceiling, range_warning, shift_warning
from auditor.report.inconclusive import FAIL, INCONCLUSIVE, OPS, PASS, STATUSES, causes, verdict
from auditor.report.policy import DEFAULT_MIN_N, Policy, Rule, load_policy, parse_policy, parse_rule, parse_rules
from auditor.store.record_tree import is_evidence

__all__ = [
    "CI_BOUNDS",
    "DEFAULT_MIN_N",
    "FAIL",
    "INCONCLUSIVE",
    "OPS",
    "PASS",
    "STATUSES",
    "Policy",
    "Rule",
    "RuleResult",
    "check",
    "check_policy",
    "exposure_ceiling",
    "format_results",
    "gate_summary",
    "load_policy",
    "parse_policy",
    "parse_rule",
    "parse_rules",
    "range_warning",
    "resolve",
    "shift_warning",
    "verdict_line",
]
CI_BOUNDS = {"ci_low": 0, "ci_high": 1}  # PATH suffix -> index into the figure's ``<figure>_ci`` [lo, hi] list


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome. ``passed`` is true only for PASS (kept for readers of older ``gate.json``);
    ``evidence`` is the figure's items in one line (``1 of 40 texts (39 too short for prefix + suffix)``),
    ``reason`` why the rule got its status."""

    rule: str
    path: str
    op: str
    value: float | None
    threshold: float | None
    baseline: float | None
    passed: bool
    warning: str | None = None  # the threshold lies outside the figure's possible range (see range_warning)
    status: str = PASS
    n: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    ci: list[float] | None = None
    min_n: int | None = None
    evidence: str = ""
    reason: str = ""


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _ci_bound(node: dict, key: str, bound: str, path: str) -> float:
    """``node[key + "_ci"][0 or 1]``: the interval bound ``bound`` (``ci_low`` / ``ci_high``) of figure ``key``."""
    ci = node.get(f"{key}_ci")
    if ci is None and node.get(f"{key}_ci_note"):
        return math.nan  # not estimable on so few items: the rule is INCONCLUSIVE (auditor.report.inconclusive)
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        raise InputError(f"{path}: {key} was recorded without a 95% interval ({key}_ci); drop '.{bound}'")
    return _number(ci[CI_BOUNDS[bound]], path)


def _number(node: Any, path: str) -> float:
    """The figure's number; NaN for a figure recorded without a value (not measured)."""
    if node is None:
        return math.nan
    if isinstance(node, dict):
        raise InputError(f"{path} is a group, not a figure; add one of: {', '.join(sorted(map(str, node))[:30])}")
    if isinstance(node, list) and path.endswith("_ci"):
        raise InputError(f"{path} is an interval; address {path[:-3]}.ci_low or {path[:-3]}.ci_high")
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise InputError(f"{path} is {node!r}, not a number")
    return float(node)


def resolve(figures: dict, path: str) -> float:
    """The number at ``path`` in ``figures`` (NaN when recorded without a value); keys may contain dots (longest
    match wins), and ``<figure>.ci_low`` / ``<figure>.ci_high`` read the figure's ``<figure>_ci`` interval."""
    node: Any = figures
    rest = path
    walked: list[str] = []
    while rest:
        if not isinstance(node, dict):
            hint = _did_you_mean(rest, list(CI_BOUNDS))
            raise InputError(f"{path}: {'.'.join(walked)} is a value, not a group; drop '.{rest}'{hint}")
        match = longest_key(node, rest)
        if match is None:
            names = sorted(k for k in map(str, node) if not is_evidence(k))
            keys = ", ".join(names[:30])
            where = ".".join(walked) or "the run"
            hint = _did_you_mean(rest.split(".")[0], names)
            raise InputError(f"{path}: nothing under {where} matches {rest!r}; available: {keys}{hint}")
        rest = rest[len(match) + 1 :]
        if rest in CI_BOUNDS and not isinstance(node[match], dict):
            return _ci_bound(node, match, rest, path)
        walked.append(match)
        node = node[match]
    return _number(node, path)


def _measured(v: float) -> float | None:
    return None if math.isnan(v) else v


def _threshold(r: Rule, baseline: dict | None) -> tuple[float | None, float | None]:
    """``(threshold, baseline value)``; the threshold is None when the baseline's figure was not measured."""
    if not r.relative:
        return r.add, None
    if baseline is None:
        raise InputError(
            f"rule {r.text!r} compares with 'baseline', but the run has no baseline checkpoint; "
            "add compare: [{label: ..., model: ...}] (and baseline: LABEL) to the audit config"
        )
    base = _measured(resolve(baseline, r.path))
    return (None if base is None else r.mul * base + r.add), base


def check_rule(r: Rule, figures: dict, baseline: dict | None, min_n: int = DEFAULT_MIN_N) -> RuleResult:
    """One rule's result; a missing path or baseline raises :class:`InputError` (a bad policy or run)."""
    value = _measured(resolve(figures, r.path))
    threshold, base = _threshold(r, baseline)
    ev = evidence(figures, r.path)
    need = r.min_n if r.min_n is not None else min_n
    why = causes(r, value, threshold, base, ev, need)
    decided = value is not None and threshold is not None and OPS[r.op](value, threshold)
    status = INCONCLUSIVE if why else (PASS if decided else FAIL)
    if not why and value is not None and threshold is not None:
        why = [f"{value:.4g} {r.op} {threshold:.4g}" if decided else f"{value:.4g} is not {r.op} {threshold:.4g}"]
    warning = range_warning(r, threshold, figures) if threshold is not None else None
    ci = list(ev.ci) if ev.ci is not None else None
    found = {"n": ev.n, "skipped": dict(ev.skipped), "ci": ci, "min_n": need, "evidence": ev.line}
    return RuleResult(
        r.text, r.path, r.op, value, threshold, base, status == PASS, warning, status, **found, reason="; ".join(why)
    )


def check(
    rules: list[Rule] | tuple[Rule, ...], figures: dict, baseline: dict | None, min_n: int = DEFAULT_MIN_N
) -> list[RuleResult]:
    """Evaluate every rule (``min_n``: the policy's minimum of items, for rules without their own)."""
    return [check_rule(r, figures, baseline, min_n) for r in rules]


def check_policy(policy: Policy, figures: dict, baseline: dict | None) -> list[RuleResult]:
    """Evaluate a policy's rules with its ``min_n``."""
    return check(policy.rules, figures, baseline, policy.min_n)


def gate_summary(results: list[RuleResult], policy: Policy | None = None) -> dict:
    """The verdict (``status`` PASS or FAIL; ``passed`` as before), what the policy was, every rule's result with
    its status, and the rules' range warnings (``warnings``)."""
    mode = policy.inconclusive if policy is not None else "fail"
    status = verdict([r.status for r in results], mode)
    return {
        "passed": status == PASS,
        "status": status,
        "counts": {s: sum(r.status == s for r in results) for s in STATUSES},
        "policy": policy.record() if policy is not None else None,
        "rules": [asdict(r) for r in results],
        "warnings": [r.warning for r in results if r.warning],
    }


def _num(v: float | None) -> str:
    return "not measured" if v is None else f"{v:.4g}"


def format_results(results: list[RuleResult]) -> list[str]:
    """One line per rule, ``STATUS  PATH = VALUE OP THRESHOLD: evidence; why undecided``, and its warning."""
    lines = []
    for r in results:
        base = f" (baseline {_num(r.baseline)})" if r.baseline is not None or "baseline" in r.rule else ""
        thr = "-" if r.threshold is None else f"{r.threshold:.4g}"
        detail = "; ".join(x for x in (r.evidence, r.reason if r.status == INCONCLUSIVE else "") if x)
        tail = f": {detail}" if detail else ""
        lines.append(f"{r.status}  {r.path} = {_num(r.value)} {r.op} {thr}{base}{tail}")
        if r.warning:
            lines.append(r.warning)
    return lines


def verdict_line(summary: dict) -> str:
    """``gate: PASS (3/3 rules)``, with the number of INCONCLUSIVE rules and how the policy counts them."""
    counts = summary.get("counts") or {}
    line = f"gate: {summary['status']} ({counts.get(PASS, 0)}/{len(summary.get('rules', []))} rules)"
    unsure = counts.get(INCONCLUSIVE, 0)
    if unsure:
        mode = (summary.get("policy") or {}).get("inconclusive", "fail")
        how = "counted as failing" if mode == "fail" else "not counted"
        line += f"; {unsure} INCONCLUSIVE, {how} (policy inconclusive: {mode})"
    return line
