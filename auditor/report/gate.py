"""The release gate: check a run's figures against a policy of threshold rules; exit 0 / 1 / 2.

A policy is YAML with ``rules:``, a list of strings ``PATH OP VALUE``::

    rules:
      - mia.min_k_pp@0.2.auc <= 0.6
      - extraction.exact_extraction_rate@32 <= 0.01
      - exposure.max <= 20
      - capability.fact_recall.accuracy >= 0.9 * baseline

``PATH`` addresses a figure of the run (see :func:`auditor.report.figures.collect_figures`); keys may contain
dots (``min_k_pp@0.2``), so each step matches the longest key that fits. ``OP`` is one of
``<=``, ``<``, ``>=``, ``>``. ``VALUE`` is a number, or ``[NUMBER *] baseline [+|- NUMBER]``, where
``baseline`` is the same figure on the run's baseline checkpoint (an audit's ``baseline:``).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError, InputError

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(r"^\s*(?P<path>\S+)\s*(?P<op><=|>=|<|>)\s*(?P<value>.+?)\s*$")
_BASELINE = re.compile(rf"^(?:(?P<mul>{_NUM})\s*\*\s*)?baseline(?:\s*(?P<sign>[-+])\s*(?P<add>{_NUM}))?$")


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


def resolve(figures: dict, path: str) -> float:
    """The number at ``path`` in ``figures``; keys may contain dots (longest match wins)."""
    node: Any = figures
    rest = path
    walked: list[str] = []
    while rest:
        if not isinstance(node, dict):
            raise InputError(f"{path}: {'.'.join(walked)} is a value, not a group; drop '.{rest}'")
        match = None
        for key in sorted(node, key=len, reverse=True):
            if rest == key or rest.startswith(key + "."):
                match = key
                break
        if match is None:
            keys = ", ".join(sorted(map(str, node))[:30])
            where = ".".join(walked) or "the run"
            raise InputError(f"{path}: nothing under {where} matches {rest!r}; available: {keys}")
        walked.append(match)
        node = node[match]
        rest = rest[len(match) + 1 :]
    if isinstance(node, dict):
        raise InputError(f"{path} is a group, not a figure; add one of: {', '.join(sorted(map(str, node))[:30])}")
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise InputError(f"{path} is {node!r}, not a number")
    return float(node)


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
        out.append(RuleResult(r.text, r.path, r.op, value, threshold, base, bool(ok)))
    return out


def gate_summary(results: list[RuleResult]) -> dict:
    return {"passed": all(r.passed for r in results), "rules": [asdict(r) for r in results]}


def format_results(results: list[RuleResult]) -> list[str]:
    lines = []
    for r in results:
        base = f" (baseline {r.baseline:.4g})" if r.baseline is not None else ""
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.path} = {r.value:.4g} {r.op} {r.threshold:.4g}{base}")
    return lines


def shift_warning(figures: dict) -> str | None:
    """A line for the gate when the MIA split is shifted (the blind baseline, Das et al. 2024), else None."""
    blind = figures.get("mia", {}).get("blind_baseline", {})
    if not blind.get("shifted"):
        return None
    return (f"WARN  mia: shifted split: the blind baseline (model-free) separates members from non-members with "
            f"AUC {blind.get('auc', float('nan')):.3f}; MIA figures measure the split, not memorization")  # fmt: skip
