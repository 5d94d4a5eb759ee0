"""The per-instance difficulty table, from the ``unlearning_difficulty`` records alone (pure functions).

Per method, the forget examples are binned by ``repeats`` (each distinct value, or quartile bins when there
are more than :data:`MAX_DISTINCT`) and by LM-EL2N tercile (low / mid / high; Paul et al. 2021's EL2N per
next token, :func:`auditor.lm.scoring.mean_el2n`). Per bin: n, the fraction ever extractable, the median and
mean ``steps_to_unextractable`` and how many did not reach it, and the median ``steps_to_oracle_loss``.
Not reached means more steps than the run took (> ``max_step``): a median that falls there is shown as
``> max_step``, and the mean counts such examples as ``max_step``, so it is then a lower bound (``>``).
Spearman correlations of the steps with repeats and with EL2N (Baluta et al. 2024: repeated and
in-distribution, low-EL2N, examples should need more steps; Sepahvand et al. 2025) give the report's sentence.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr

from auditor.registry import Registry

FAMILY = "unlearning_difficulty"
BASE_NOTE = "the base checkpoint before unlearning"  # extra.el2n_model when no difficulty_model is set
MAX_DISTINCT = 6  # more distinct repeats values than this: quartile bins
CRITERIA = {"steps_to_unextractable": "steps to unextractable", "steps_to_oracle_loss": "steps to oracle loss"}
Rows = list[dict]
Binning = Callable[[Rows], list[tuple[str, Rows]]]
BINNINGS: Registry[Binning] = Registry("difficulty binning")
BIN_ORDER = ("repeats", "el2n")  # the table's binnings, in the order shown


def examples(records: list[dict]) -> dict[str, Rows]:
    """``{method: [per-example row]}`` from the records: id, both criteria's steps and reached flags,
    ever_extractable, repeats, el2n, max_step, every."""
    out: dict[str, dict[str, dict]] = {}
    for r in records:
        if r.get("family") != FAMILY or r.get("metric") not in CRITERIA:
            continue
        ex = out.setdefault(str(r["checkpoint"]), {}).setdefault(str(r["task"]), {"id": str(r["task"])})
        extra = r.get("extra") or {}
        ex[r["metric"]] = r.get("value")
        ex[f"{r['metric']}_reached"] = extra.get("reached")
        for key in ("ever_extractable", "repeats", "el2n", "max_step", "every", "el2n_model"):
            if key in extra:
                ex[key] = extra[key]
    return {m: list(rows.values()) for m, rows in out.items()}


@BINNINGS.register("repeats")
def by_repeats(rows: Rows) -> list[tuple[str, Rows]]:
    """One bin per distinct ``repeats`` value, or quartile bins of the values (edges taken from the data)."""
    have = [r for r in rows if isinstance(r.get("repeats"), int)]
    values = sorted({r["repeats"] for r in have})
    if not values:
        return []
    if len(values) <= MAX_DISTINCT:
        return [(f"repeats = {v}", [r for r in have if r["repeats"] == v]) for v in values]
    edges = sorted({int(x) for x in np.quantile([r["repeats"] for r in have], [0.25, 0.5, 0.75], method="lower")})
    bounds = [values[0], *[e + 1 for e in edges if e < values[-1]], values[-1] + 1]  # [lo, hi) per bin
    out = []
    for lo, hi in itertools.pairwise(bounds):
        part = [r for r in have if lo <= r["repeats"] < hi]
        if part:
            seen = [r["repeats"] for r in part]
            lo_seen, hi_seen = min(seen), max(seen)
            out.append((f"repeats {lo_seen}" if lo_seen == hi_seen else f"repeats {lo_seen}-{hi_seen}", part))
    return out


@BINNINGS.register("el2n")
def by_el2n_tercile(rows: Rows) -> list[tuple[str, Rows]]:
    """Three equal-count bins by LM-EL2N (ties broken by id): low (well fit, in-distribution), mid, high."""
    have = sorted((r for r in rows if isinstance(r.get("el2n"), int | float)), key=lambda r: (r["el2n"], r["id"]))
    parts = [list(p) for p in np.array_split(np.arange(len(have)), 3)]
    out = []
    for name, idx in zip(("low", "mid", "high"), parts, strict=True):
        if idx:
            part = [have[i] for i in idx]
            out.append((f"EL2N {name} ({part[0]['el2n']:.3f}-{part[-1]['el2n']:.3f})", part))
    return out


def censored(rows: Rows, metric: str) -> tuple[list[float], int]:
    """The steps of the rows where ``metric`` was measured, not-reached as +inf; and how many not reached."""
    vals = [
        r.get(metric) if r.get(f"{metric}_reached") else math.inf
        for r in rows
        if r.get(f"{metric}_reached") is not None
    ]
    return [float(v) for v in vals], sum(1 for v in vals if v == math.inf)


def _median(vals: list[float]) -> tuple[float | None, bool]:
    """(median, False), or (None, True) when the median is not reached (beyond the last step), (None, False)
    when nothing was measured."""
    if not vals:
        return None, False
    m = float(np.median(vals))
    return (None, True) if m == math.inf else (m, False)


def _mean(vals: list[float], max_step: int) -> float | None:
    return float(np.mean([min(v, max_step) for v in vals])) if vals else None


def bin_stats(rows: Rows, max_step: int) -> dict:
    """One bin's figures (see the module docstring); ``None`` where nothing was measured; a median beyond the
    last step is ``None`` with its ``*_beyond_max_step`` flag set (JSON has no infinity)."""
    ever = [bool(r["ever_extractable"]) for r in rows if r.get("ever_extractable") is not None]
    steps, not_reached = censored(rows, "steps_to_unextractable")
    oracle, oracle_not = censored(rows, "steps_to_oracle_loss")
    med, beyond = _median(steps)
    o_med, o_beyond = _median(oracle)
    return {
        "n": len(rows),
        "ever_extractable": float(np.mean(ever)) if ever else None,
        "median_steps_to_unextractable": med,
        "median_steps_to_unextractable_beyond_max_step": beyond,
        "mean_steps_to_unextractable": _mean(steps, max_step),
        "mean_is_lower_bound": not_reached > 0,
        "not_reached": not_reached,
        "median_steps_to_oracle_loss": o_med,
        "median_steps_to_oracle_loss_beyond_max_step": o_beyond,
        "oracle_not_reached": oracle_not if oracle else None,
    }


def _correlation(rows: Rows, metric: str, covariate: str, max_step: int, every: int) -> dict:
    """Spearman's rho of a criterion's steps (not reached = max_step + every, tied last) with a covariate."""
    pairs = [
        (r[metric] if r[f"{metric}_reached"] else max_step + every, r[covariate])
        for r in rows
        if r.get(f"{metric}_reached") is not None and isinstance(r.get(covariate), int | float)
    ]
    out: dict = {"criterion": metric, "covariate": covariate, "n": len(pairs), "rho": None, "p": None}
    if len(pairs) >= 3 and len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1:
        res = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
        out |= {"rho": float(res.statistic), "p": float(res.pvalue)}
    return out


def difficulty_table(records: list[dict]) -> dict:
    """Everything the report, ``unlearning_difficulty.json`` and the stdout lines show, from records."""
    per = examples(records)
    table: dict = {"methods": {}, "rows": [], "correlations": []}
    for method, rows in per.items():
        max_step = max((int(r.get("max_step") or 0) for r in rows), default=0)
        every = max((int(r.get("every") or 1) for r in rows), default=1)
        table["methods"][method] = {"n": len(rows), "max_step": max_step, "every": every}
        for binning in BIN_ORDER:
            for label, part in BINNINGS.get(binning)(rows):
                table["rows"].append({"method": method, "binning": binning, "bin": label, **bin_stats(part, max_step)})
        for metric in CRITERIA:
            for cov in ("repeats", "el2n"):
                table["correlations"].append({"method": method, **_correlation(rows, metric, cov, max_step, every)})
    table["oracle"] = any(r.get("steps_to_oracle_loss_reached") is not None for rows in per.values() for r in rows)
    table["el2n_model"] = next((r["el2n_model"] for rows in per.values() for r in rows if "el2n_model" in r), None)
    table["findings"] = findings(table["correlations"])
    table["sentences"] = [f["text"] for f in table["findings"]]
    return table


_WORDS = {"repeats": ("more-repeated", 1), "el2n": ("in-distribution (low-EL2N)", -1)}


def _clause(c: dict) -> str:
    """One covariate's finding for one criterion, with rho, p and n; direction from the sign of rho."""
    who, sign = _WORDS[c["covariate"]]
    if c["rho"] is None:
        return f"{who} examples: not measurable (n = {c['n']}; fewer than 3 examples, or no variation)"
    more = "more" if c["rho"] * sign > 0 else "fewer"
    stats = f"Spearman rho(steps, {c['covariate']}) = {c['rho']:.2f}, p = {c['p']:.2g}, n = {c['n']}"
    if c["p"] >= 0.05:
        return f"{who} examples: no significant difference in steps ({stats})"
    return f"{who} examples took {more} steps ({stats})"


def findings(correlations: list[dict]) -> list[dict]:
    """Per method and criterion with data, ``{"method", "criterion", "text"}``: a sentence saying whether
    repeated / in-distribution examples took more steps, from the correlations."""
    out = []
    keyed: dict[tuple[str, str], list[dict]] = {}
    for c in correlations:
        keyed.setdefault((c["method"], c["criterion"]), []).append(c)
    for (method, metric), cs in keyed.items():
        parts = [_clause(c) for c in cs if c["n"] > 0]
        if parts:
            out.append(
                {
                    "method": method,
                    "criterion": metric,
                    "text": f"{method}, {CRITERIA[metric]}: " + "; ".join(parts) + ".",
                }
            )
    return out


def steps_cell(row: dict, key: str, max_step: int) -> str:
    """A bin's steps figure as shown: ``-`` (nothing measured), ``> max_step`` (median not reached), ``> x``
    (a mean that counts not-reached examples as ``max_step``: a lower bound)."""
    if row.get(f"{key}_beyond_max_step"):
        return f"> {max_step}"
    value = row.get(key)
    if value is None:
        return "-"
    if key.startswith("mean"):  # a mean of step counts: one decimal (a median is a step or a half-step)
        return f"> {value:.1f}" if row.get("mean_is_lower_bound") else f"{value:.1f}"
    return f"{value:g}"


def summary_lines(table: dict) -> list[str]:
    """A few lines for stdout: per method, the median steps to unextractable per EL2N tercile and repeats bin."""
    lines = []
    for method, info in table["methods"].items():
        cells = [
            f"{r['bin']}: {steps_cell(r, 'median_steps_to_unextractable', info['max_step'])}"
            + (f" ({r['not_reached']} not reached)" if r["not_reached"] else "")
            for r in table["rows"]
            if r["method"] == method
        ]
        lines.append(f"  {method} (n = {info['n']}, {info['max_step']} steps): " + "; ".join(cells))
    return lines
