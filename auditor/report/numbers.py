"""The report's one number formatter: rates, AUCs and their CIs to 3 decimals, exposure in bits to 1 decimal.

Every number the report shows goes through :func:`fmt`, so a figure reads the same in the first screen, in
a section's table and in the collapsed table of all figures. A value in bits is wrapped in :class:`Bits`
(and a CI in bits in :class:`BitsCI`) so the formatter knows its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DECIMALS = 3  # rates, AUCs, accuracies and their CIs
BITS_DECIMALS = 1  # exposure
NOISE = 1e-12  # below this a value is floating-point noise around 0 (a bootstrap bound of 6.9e-18), shown as 0


@dataclass(frozen=True)
class Bits:
    """A value in bits (canary exposure)."""

    value: float


@dataclass(frozen=True)
class BitsCI:
    """A (low, high) interval in bits."""

    low: float
    high: float


@dataclass(frozen=True)
class NotAvailable:
    """A figure the data cannot support, shown as ``n/a (reason)`` instead of a number."""

    reason: str


def number(v: float, decimals: int = DECIMALS) -> str:
    """One float: ``decimals`` places; NaN as ``nan``; a tiny non-zero value in scientific notation."""
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if abs(v) < NOISE:
        v = 0.0
    if v != 0 and abs(v) < 0.5 * 10**-decimals:
        return f"{v:.1e}"
    return f"{v:.{decimals}f}"


def is_pair(v: object) -> bool:
    return isinstance(v, list | tuple) and len(v) == 2 and all(_num(x) for x in v)


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def fmt(v: object) -> str:
    """The report's text for a value: numbers as above, pairs as CIs, None as empty, booleans as yes / no."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Bits):
        return number(float(v.value), BITS_DECIMALS)
    if isinstance(v, BitsCI):
        return f"[{number(v.low, BITS_DECIMALS)}, {number(v.high, BITS_DECIMALS)}]"
    if isinstance(v, NotAvailable):
        return f"n/a ({v.reason})"
    if isinstance(v, float):
        return number(v)
    if is_pair(v):
        lo, hi = v  # type: ignore[misc]
        return f"[{number(float(lo))}, {number(float(hi))}]"
    return str(v)


def delta(a: object, b: object, *, bits: bool = False) -> str | None:
    """``a - b`` with its sign, in the precision of the figure (None when either is not a number)."""
    a = a.value if isinstance(a, Bits) else a
    b = b.value if isinstance(b, Bits) else b
    if not (_num(a) and _num(b)):
        return None
    d = float(a) - float(b)  # type: ignore[arg-type]
    text = number(d, BITS_DECIMALS if bits else DECIMALS)
    return text if text.startswith("-") else "+" + text


def low_n_fpr(n_nonmembers: object, fpr: float) -> NotAvailable | None:
    """``n/a (needs >= N non-members)`` when fewer than 1/FPR non-members were scored, else None."""
    need = round(1 / fpr)
    if _num(n_nonmembers) and n_nonmembers < need:  # type: ignore[operator]
        return NotAvailable(f"needs ≥ {need:,} non-members")
    return None
