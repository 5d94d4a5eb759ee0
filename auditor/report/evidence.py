"""What a figure was measured on: its ``n``, the items left out and why, its 95% interval and low-n flag.

Read from a figure's siblings in the figures tree (``<key>_n``, ``<key>_skipped``, ``<key>_ci``,
``<key>_low_n``; :mod:`auditor.store.record_tree`) and said in one line with the unit its family declares
(:attr:`auditor.family.Figure.unit`): ``1 of 40 texts (39 too short for prefix + suffix)``, or
``n = 120 texts`` when nothing was left out. The gate, the report's cards, summary.json and the terminal
all use this one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.families import CI_ENDS, declared
from auditor.report.meaning import lookup


@dataclass(frozen=True)
class Evidence:
    """The items behind one figure; ``n`` None when the records do not say."""

    n: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    ci: tuple[float, float] | None = None
    low_n: bool = False
    unit: str = "items"
    ci_note: str = ""  # why there is no interval (too few items to estimate one), when the records say

    @property
    def line(self) -> str:
        return evidence_line(self.n, self.skipped, self.unit)


def figure_of(path: str) -> str:
    """The figure a rule path reads: ``mia.loss.auc.ci_low`` -> ``mia.loss.auc``."""
    for end in CI_ENDS:
        if path.endswith(end):
            return path[: -len(end)]
    return path


def reads_interval(path: str) -> bool:
    """Whether a rule path reads an end of its figure's interval (``.ci_low`` / ``.ci_high``)."""
    return path.endswith(CI_ENDS)


def unit_of(path: str) -> str:
    """What ``n`` counts for the figure at ``path`` (its declared unit; ``items`` when undeclared)."""
    fig = declared(figure_of(path))
    return fig.unit if fig is not None else "items"


def _count(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _interval(v: object) -> tuple[float, float] | None:
    if isinstance(v, list | tuple) and len(v) == 2 and all(_count(x) is not None or isinstance(x, float) for x in v):
        return float(v[0]), float(v[1])
    return None


def evidence(figures: dict, path: str) -> Evidence:
    """The evidence of the figure that the rule or tree path ``path`` reads (empty when there is none)."""
    unit = unit_of(path)
    found = lookup(figures, figure_of(path))
    if not found:
        return Evidence(unit=unit)
    parent, key = found
    raw = parent.get(f"{key}_skipped")
    skipped = {str(k): int(v) for k, v in raw.items() if _count(v)} if isinstance(raw, dict) else {}
    low_n = parent.get(f"{key}_low_n") is True
    note = parent.get(f"{key}_ci_note")
    ci = _interval(parent.get(f"{key}_ci"))
    return Evidence(_count(parent.get(f"{key}_n")), skipped, ci, low_n, unit, str(note) if note else "")


def _plural(unit: str, count: int) -> str:
    """The unit for ``count`` items: ``1 text``, ``1 canary``, ``2 texts``."""
    if count != 1 or not unit.endswith("s") or unit.endswith("ss"):
        return unit
    return unit[:-3] + "y" if unit.endswith("ies") else unit[:-1]


def evidence_line(n: int | None, skipped: dict[str, int] | None, unit: str = "items") -> str:
    """``n of n+sum(skipped) unit (count reason, ...)``, or ``n = N unit``; ``""`` when ``n`` is unknown."""
    if n is None:
        return ""
    skipped = {k: v for k, v in (skipped or {}).items() if v}
    if not skipped:
        return f"n = {n} {_plural(unit, n)}"
    total = n + sum(skipped.values())
    why = ", ".join(f"{count} {reason}" for reason, count in skipped.items())
    return f"{n} of {total} {_plural(unit, total)} ({why})"
