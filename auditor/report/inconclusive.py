"""When a gate rule cannot be decided: its figure has too few items to say PASS or FAIL.

A rule is INCONCLUSIVE when its figure

- was not measured: no value (None / NaN), n = 0, or a relative rule's baseline figure has no value;
- is a TPR at an FPR below 1/#non-members (``<figure>_low_n``): the value is the TPR at zero false positives;
- passes, but was measured on fewer items than the minimum (the rule's ``(n >= N)``, else the policy's
  ``min_n``, default :data:`auditor.report.policy.DEFAULT_MIN_N` = 10): few items cannot show a pass, while a
  failure they show outright stays FAIL; a figure whose records do not say their n is not held to it;
- has a 95% interval that straddles the threshold (the operator answers differently at its two ends), when the
  rule reads the figure itself; a rule on ``.ci_low`` / ``.ci_high`` already accounts for the interval.

The verdict (:func:`verdict`): FAIL when a rule fails, or when one is INCONCLUSIVE and the policy says
``inconclusive: fail`` (the default); else PASS.
"""

from __future__ import annotations

import operator

from auditor.report.evidence import Evidence, reads_interval
from auditor.report.policy import Rule

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
STATUSES = (PASS, FAIL, INCONCLUSIVE)
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def _low_n_cause(path: str) -> str:
    key = path.rsplit(".", 1)[-1]
    try:
        need = round(100 / float(key[4:].split("%")[0]))
    except ValueError:
        return "measured on fewer non-members than its FPR needs"
    return f"a TPR at {key[4:].split('%')[0]}% FPR needs at least {need:,} non-members"


def causes(
    rule: Rule, value: float | None, threshold: float | None, base: float | None, ev: Evidence, min_n: int
) -> list[str]:
    """Why ``rule`` cannot be decided on this evidence (empty: it can)."""
    if value is None and reads_interval(rule.path) and ev.ci is None and ev.ci_note:
        return [f"95% CI {ev.ci_note}"]  # too few items to estimate an interval: a rule on its end cannot decide
    if value is None or ev.n == 0:
        return ["not measured"]
    if threshold is None:
        return [f"the baseline's {rule.path} was not measured" if base is None else "no threshold"]
    out = []
    if ev.low_n:
        out.append(_low_n_cause(rule.path))
    # too few items can stop a PASS, never soften a FAIL: 8 of 8 canaries extracted fails "<= 0.01" outright
    # (a failing value is still INCONCLUSIVE when its interval reaches the passing side, below)
    if ev.n is not None and ev.n < min_n and OPS[rule.op](value, threshold):
        whose = f"the rule needs (n >= {min_n})" if rule.min_n is not None else "the policy needs (min_n)"
        out.append(f"fewer than the {min_n} {whose}")
    if ev.ci is not None and not reads_interval(rule.path):
        lo, hi = ev.ci
        if OPS[rule.op](lo, threshold) != OPS[rule.op](hi, threshold):
            out.append(f"95% CI [{lo:.4g}, {hi:.4g}] straddles {threshold:.4g}")
    return out


def verdict(statuses: list[str], inconclusive: str = "fail") -> str:
    """PASS or FAIL from the rules' statuses and what the policy counts an INCONCLUSIVE rule as."""
    if FAIL in statuses or (INCONCLUSIVE in statuses and inconclusive == "fail"):
        return FAIL
    return PASS
