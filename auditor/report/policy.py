"""A gate policy: its rules ``PATH OP VALUE [(n >= N)]``, the fewest items a figure needs, and what an
inconclusive rule counts as.

A policy is either a list of rule strings or a mapping::

    rules:
      - mia.loss.auc.ci_low <= 0.6
      - extraction.exact_extraction_rate <= 0.01 (n >= 100)   # this rule's own minimum
    min_n: 10             # default 10: a figure measured on fewer items leaves its rule INCONCLUSIVE
    inconclusive: fail    # default fail: an INCONCLUSIVE rule fails the release; pass: it does not

An audit config's ``policy:`` takes either shape, and so does a policy YAML file (``auditor gate --policy``),
where the list sits under ``rules:``. A policy is known by the SHA-256 of its canonical form (the rules'
texts, ``min_n`` and ``inconclusive``, :attr:`Policy.sha256`), so the same rules from a config and from a file
give the same verdict file ``RUN/gates/<sha256[:12]>.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.config import read_yaml
from auditor.errors import ConfigError

DEFAULT_MIN_N = 10  # a figure measured on fewer items than this leaves its rule INCONCLUSIVE
INCONCLUSIVE_MODES = ("fail", "pass")  # what an INCONCLUSIVE rule counts as in the verdict
KEYS = ("rules", "min_n", "inconclusive")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(r"^\s*(?P<path>\S+)\s*(?P<op><=|>=|<|>)\s*(?P<value>.+?)\s*$")
_MIN_N = re.compile(r"^(?P<body>.*?)\s*\(\s*n\s*>=\s*(?P<min_n>\d+)\s*\)\s*$")
_BASELINE = re.compile(rf"^(?:(?P<mul>{_NUM})\s*\*\s*)?baseline(?:\s*(?P<sign>[-+])\s*(?P<add>{_NUM}))?$")


@dataclass(frozen=True)
class Rule:
    """One parsed rule: ``path op (mul * baseline + add)`` or ``path op add`` when not relative; ``min_n``: the
    rule's own minimum of items (``(n >= N)`` after the rule), None for the policy's."""

    text: str
    path: str
    op: str
    relative: bool
    mul: float = 1.0
    add: float = 0.0
    min_n: int | None = None


@dataclass(frozen=True)
class Policy:
    """The rules, the policy's ``min_n`` and ``inconclusive`` mode, and where the policy came from."""

    rules: tuple[Rule, ...]
    min_n: int = DEFAULT_MIN_N
    inconclusive: str = "fail"
    source: str | None = None

    @property
    def spec(self) -> dict:
        """The canonical form: what the hash covers and what ``policy.json`` may hold."""
        return {"rules": [r.text for r in self.rules], "min_n": self.min_n, "inconclusive": self.inconclusive}

    @property
    def sha256(self) -> str:
        text = json.dumps(self.spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def record(self) -> dict:
        """``{"source", "sha256", "rules", "min_n", "inconclusive"}``: the policy as a verdict names it."""
        return {"source": self.source, "sha256": self.sha256, **self.spec}


def parse_rule(text: str) -> Rule:
    """Parse ``PATH OP VALUE [(n >= N)]``; raise :class:`ConfigError` naming the rule on bad syntax."""
    if not isinstance(text, str):
        raise ConfigError(f"rule {text!r}: a rule is a string 'PATH OP VALUE', e.g. 'exposure.max <= 20'")
    own = _MIN_N.match(text)
    m = _RULE.match(own["body"] if own else text)
    if not m:
        raise ConfigError(f"rule {text!r}: expected 'PATH OP VALUE' with OP one of <=, <, >=, >")
    min_n = int(own["min_n"]) if own else None
    value = m["value"]
    if re.fullmatch(_NUM, value):
        return Rule(text, m["path"], m["op"], relative=False, add=float(value), min_n=min_n)
    b = _BASELINE.match(value)
    if not b:
        raise ConfigError(
            f"rule {text!r}: VALUE must be a number or '[NUMBER *] baseline [+|- NUMBER]', then optionally "
            f"'(n >= N)'; got {value!r}"
        )
    add = float(b["add"]) * (-1 if b["sign"] == "-" else 1) if b["add"] else 0.0
    mul = float(b["mul"]) if b["mul"] else 1.0
    return Rule(text, m["path"], m["op"], relative=True, mul=mul, add=add, min_n=min_n)


def parse_rules(rules: Any) -> list[Rule]:
    """A non-empty list of rule strings, parsed."""
    if not isinstance(rules, list | tuple) or not rules:
        raise ConfigError("policy rules: expected a non-empty list of 'PATH OP VALUE' strings")
    return [parse_rule(r) for r in rules]


def _min_n(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{where}: min_n must be a whole number >= 0 (the fewest items a figure needs to decide a rule), "
            f"got {value!r}"
        )
    return value


def _mode(value: Any, where: str) -> str:
    if value not in INCONCLUSIVE_MODES:
        raise ConfigError(
            f"{where}: inconclusive must be 'fail' or 'pass' (what an undecided rule counts as), got {value!r}"
        )
    return str(value)


def parse_policy(data: Any, source: str | None = None, where: str = "policy") -> Policy:
    """A :class:`Policy` from a list of rule strings or a mapping ``{rules, min_n?, inconclusive?}`` (an audit
    config's ``policy:``, a policy file's content); ``where`` names the place in error messages."""
    if isinstance(data, list | tuple):
        return Policy(tuple(parse_rules(data)), source=source)
    if not isinstance(data, dict) or "rules" not in data:
        raise ConfigError(
            f"{where}: a policy is a list of 'PATH OP VALUE' rules, or a mapping with 'rules:' "
            "(and optionally 'min_n:' and 'inconclusive: fail|pass')"
        )
    extra = sorted(set(map(str, data)) - set(KEYS))
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}; a policy has only {', '.join(KEYS)}")
    min_n = _min_n(data.get("min_n", DEFAULT_MIN_N), where)
    mode = _mode(data.get("inconclusive", "fail"), where)
    return Policy(tuple(parse_rules(data["rules"])), min_n, mode, source)


def load_policy(path: str | Path) -> Policy:
    """Read a policy YAML file: a mapping with ``rules:`` (and optionally ``min_n:``, ``inconclusive:``), through
    the one config reader (:func:`auditor.config.read_yaml`: UTF-8, a key given twice refused)."""
    p = Path(path)
    data = read_yaml(p, "policy file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a policy file is a mapping with 'rules:', a list of 'PATH OP VALUE' strings")
    return parse_policy(data, source=str(p), where=str(p))
