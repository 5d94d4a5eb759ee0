"""The release gate: check a run's figures against a policy of threshold rules; exit 0 / 1 / 2.

A policy is YAML with ``rules:``, a list of strings ``PATH OP VALUE``::

    rules:
      - mia.min_k_pp@0.2.auc <= 0.6
      - mia.loss.auc.ci_low <= 0.6
      - extraction.exact_extraction_rate@32 <= 0.01
      - exposure.rank1_rate <= 0
      - capability.fact_recall.accuracy >= 0.9 * baseline

``PATH`` addresses a figure of the run (see :func:`auditor.report.figures.collect_figures`); keys may contain
dots (``min_k_pp@0.2``), so each step matches the longest key that fits. A figure recorded with its 95% interval
(a sibling ``<figure>_ci`` list, ``docs/records.md``) also has ``<figure>.ci_low`` and ``<figure>.ci_high``:
``mia.loss.auc.ci_low <= 0.6`` fails only when the whole interval lies above 0.6. ``OP`` is one of
``<=``, ``<``, ``>=``, ``>``. ``VALUE`` is a number, or ``[NUMBER *] baseline [+|- NUMBER]``, where
``baseline`` is the same figure on the run's baseline checkpoint (an audit's ``baseline:``). A threshold
outside the figure's possible range (:func:`auditor.report.figures.figure_range`) gets a ``WARN`` line: such a
rule can never fail (``exposure.max <= 20`` with 4-digit secrets, whose exposure is at most 13.29 bits) or never
pass.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError, InputError
from auditor.report.figures import figure_range, longest_key

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(r"^\s*(?P<path>\S+)\s*(?P<op><=|>=|<|>)\s*(?P<value>.+?)\s*$")
_BASELINE = re.compile(rf"^(?:(?P<mul>{_NUM})\s*\*\s*)?baseline(?:\s*(?P<sign>[-+])\s*(?P<add>{_NUM}))?$")
CI_BOUNDS = {"ci_low": 0, "ci_high": 1}  # PATH suffix -> index into the figure's ``<figure>_ci`` [lo, hi] list


@dataclass(frozen=True)
class Rule:
    """One parsed rule: ``path op (mul * baseline + add)`` or ``path op add`` when not relative."""

    text: str
    path: str
    op: str
    relative: bool
    mul: float = 1.0
    add: float = 0.0


@dataclass(frozen=True)
class RuleResult:
    rule: str
    path: str
    op: str
    value: float | None
    threshold: float | None
    baseline: float | None
    passed: bool
    warning: str | None = None  # the threshold lies outside the figure's possible range (see range_warning)


def parse_rule(text: str) -> Rule:
    """Parse ``PATH OP VALUE``; raise :class:`ConfigError` naming the rule on bad syntax."""
    if not isinstance(text, str):
        raise ConfigError(f"rule {text!r}: a rule is a string 'PATH OP VALUE', e.g. 'exposure.max <= 20'")
    m = _RULE.match(text)
    if not m:
        raise ConfigError(f"rule {text!r}: expected 'PATH OP VALUE' with OP one of <=, <, >=, >")
    value = m["value"]
    if re.fullmatch(_NUM, value):
        return Rule(text, m["path"], m["op"], relative=False, add=float(value))
    b = _BASELINE.match(value)
    if not b:
        raise ConfigError(f"rule {text!r}: VALUE must be a number or '[NUMBER *] baseline [+|- NUMBER]', got {value!r}")
    add = float(b["add"]) * (-1 if b["sign"] == "-" else 1) if b["add"] else 0.0
    return Rule(text, m["path"], m["op"], relative=True, mul=float(b["mul"]) if b["mul"] else 1.0, add=add)


def load_policy(path: str | Path) -> list[Rule]:
    """Read a policy YAML file (``rules: [...]``)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"policy file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from e
    if not isinstance(data, dict) or "rules" not in data:
        raise ConfigError(f"{p}: a policy is a mapping with 'rules:', a list of 'PATH OP VALUE' strings")
    extra = set(data) - {"rules"}
    if extra:
        raise ConfigError(f"{p}: unknown key(s) {', '.join(sorted(extra))}; a policy has only 'rules'")
    return parse_rules(data["rules"])


def parse_rules(rules: Any) -> list[Rule]:
    if not isinstance(rules, list) or not rules:
        raise ConfigError("policy rules: expected a non-empty list of 'PATH OP VALUE' strings")
    return [parse_rule(r) for r in rules]


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _ci_bound(node: dict, key: str, bound: str, path: str) -> float:
    """``node[key + "_ci"][0 or 1]``: the interval bound ``bound`` (``ci_low`` / ``ci_high``) of figure ``key``."""
    ci = node.get(f"{key}_ci")
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        raise InputError(f"{path}: {key} was recorded without a 95% interval ({key}_ci); drop '.{bound}'")
    return _number(ci[CI_BOUNDS[bound]], path)


def _number(node: Any, path: str) -> float:
    if isinstance(node, dict):
        raise InputError(f"{path} is a group, not a figure; add one of: {', '.join(sorted(map(str, node))[:30])}")
    if isinstance(node, list) and path.endswith("_ci"):
        raise InputError(f"{path} is an interval; address {path[:-3]}.ci_low or {path[:-3]}.ci_high")
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise InputError(f"{path} is {node!r}, not a number")
    return float(node)


def resolve(figures: dict, path: str) -> float:
    """The number at ``path`` in ``figures``; keys may contain dots (longest match wins), and
    ``<figure>.ci_low`` / ``<figure>.ci_high`` read the figure's ``<figure>_ci`` interval."""
    node: Any = figures
    rest = path
    walked: list[str] = []
    while rest:
        if not isinstance(node, dict):
            hint = _did_you_mean(rest, list(CI_BOUNDS))
            raise InputError(f"{path}: {'.'.join(walked)} is a value, not a group; drop '.{rest}'{hint}")
        match = longest_key(node, rest)
        if match is None:
            keys = ", ".join(sorted(map(str, node))[:30])
            where = ".".join(walked) or "the run"
            hint = _did_you_mean(rest.split(".")[0], sorted(map(str, node)))
            raise InputError(f"{path}: nothing under {where} matches {rest!r}; available: {keys}{hint}")
        rest = rest[len(match) + 1 :]
        if rest in CI_BOUNDS and not isinstance(node[match], dict):
            return _ci_bound(node, match, rest, path)
        walked.append(match)
        node = node[match]
    return _number(node, path)


def check(rules: list[Rule], figures: dict, baseline: dict | None) -> list[RuleResult]:
    """Evaluate every rule; a missing path or baseline raises :class:`InputError` (a bad policy or run)."""
    out = []
    for r in rules:
        value = resolve(figures, r.path)
        base = None
        if r.relative:
            if baseline is None:
                raise InputError(
                    f"rule {r.text!r} compares with 'baseline', but the run has no baseline checkpoint; "
                    "add compare: [{label: ..., model: ...}] (and baseline: LABEL) to the audit config"
                )
            base = resolve(baseline, r.path)
            threshold = r.mul * base + r.add
        else:
            threshold = r.add
        ok = not math.isnan(value) and OPS[r.op](value, threshold)
        warning = range_warning(r, threshold, figures)
        out.append(RuleResult(r.text, r.path, r.op, value, threshold, base, bool(ok), warning))
    return out


def exposure_ceiling(figures: dict, path: str) -> float | None:
    """``exposure.max_possible`` (log2 of the candidate count) beside the exposure figure at ``path``, falling
    back to the dense point's; None when the records do not hold it."""
    at = path.rfind("exposure.")
    for where in (path[:at] + "exposure.max_possible", "exposure.max_possible") if at >= 0 else ():
        try:
            return resolve(figures, where)
        except InputError:
            continue
    return None


def range_warning(rule: Rule, threshold: float, figures: dict) -> str | None:
    """A ``WARN`` line when ``threshold`` lies outside the values the figure can take (:func:`figure_range`), so
    the rule can never fail (``exposure.max <= 20`` with 4-digit secrets: exposure is at most log2(10^4) = 13.29
    bits) or never pass; else None."""
    bounds = figure_range(rule.path, exposure_ceiling(figures, rule.path))
    if bounds is None or math.isnan(threshold):
        return None
    lo, hi = bounds
    always = {"<=": threshold >= hi, "<": threshold > hi, ">=": threshold <= lo, ">": threshold < lo}[rule.op]
    never = {"<=": threshold < lo, "<": threshold <= lo, ">=": threshold > hi, ">": threshold >= hi}[rule.op]
    if not (always or never):
        return None
    verdict = "can never fail" if always else "can never pass"
    return (f"WARN  {rule.text}: {rule.path} lies in [{lo:.4g}, {hi:.4g}], so '{rule.op} {threshold:.4g}' "
            f"{verdict}; pick a threshold inside the range")  # fmt: skip


def gate_summary(results: list[RuleResult]) -> dict:
    """The verdict, every rule's result, and the rules' range warnings (``warnings``)."""
    return {
        "passed": all(r.passed for r in results),
        "rules": [asdict(r) for r in results],
        "warnings": [r.warning for r in results if r.warning],
    }


def format_results(results: list[RuleResult]) -> list[str]:
    lines = []
    for r in results:
        base = f" (baseline {r.baseline:.4g})" if r.baseline is not None else ""
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.path} = {r.value:.4g} {r.op} {r.threshold:.4g}{base}")
        if r.warning:
            lines.append(r.warning)
    return lines


def shift_warning(figures: dict) -> str | None:
    """A line for the gate when the MIA split is shifted (the blind baseline, Das et al. 2024), else None."""
    blind = figures.get("mia", {}).get("blind_baseline", {})
    if not blind.get("shifted"):
        return None
    return (f"WARN  mia: shifted split: the blind baseline (model-free) separates members from non-members with "
            f"AUC {blind.get('auc', float('nan')):.3f}; MIA figures measure the split, not memorization")  # fmt: skip
