"""What the ``extraction``, ``exposure`` and ``untargeted`` families' figures mean, and their parts of a point's
figures tree.

* ``extraction.<metric>[@K]`` and ``extraction.by_prefix_len|by_repeats.<R>.<metric>``: discoverable extraction
  (Carlini et al. 2023, "Quantifying memorization across neural language models"); ``extraction_canaries.*`` the
  same for planted canary secrets greedily decoded from their prefixes;
* ``exposure.mean|max|rank1_rate|max_possible``: canary exposure in bits (Carlini et al. 2019, "The Secret
  Sharer"), log2(#candidates) - log2(rank), so it lies in [0, ``max_possible``];
* ``untargeted.<ranking>.<metric>``: sampled text found verbatim in a corpus (Carlini et al. 2021).
"""

from __future__ import annotations

from typing import Any

from auditor.family import Figure
from auditor.store.record_tree import put, split_task

UNSEEN = "about 1 for a canary the model never saw: it ranks mid-way"
_EXACT = "Share of training texts whose continuation the model reproduces word for word from a prefix."
_APPROX = "Share of training continuations reproduced (approximately, or token by token) from a prefix."
_CANARY = "Share of planted canary secrets the model completes verbatim from their prefix; 0 = none leak."
_BITS = ("Exposure of {what}, in bits (" + UNSEEN + "); its ceiling, log2 of the number of candidate secrets, "
         "is reached when the canary ranks first.")  # fmt: skip

EXTRACTION_FIGURES: tuple[Figure, ...] = (
    Figure("extraction_canaries.exact_extraction_rate", _CANARY, headline=True,
           name="canary exact extraction rate", unit="canaries"),
    Figure("extraction_canaries.by_repeats.<repeats>.<metric>", _CANARY + " Canaries seen {repeats} times.",
           unit="canaries"),
    Figure("extraction_canaries.<metric>", _CANARY, unit="canaries"),
    Figure("extraction.exact_extraction_rate", _EXACT, headline=True, name="exact extraction rate", unit="texts"),
    Figure("extraction.exact_extraction_rate@<k>", _EXACT + " Prefix of {k} tokens.", unit="texts"),
    Figure("extraction.by_<key>.<value>.exact_extraction_rate", _EXACT, unit="texts"),
    Figure("extraction.by_<key>.<value>.<metric>", _APPROX, unit="texts"),
    Figure("extraction.longest_run", "Mean longest run of suffix tokens reproduced in a row.", range=None,
           unit="texts"),
    Figure("extraction.<metric>", _APPROX, unit="texts"),
)  # fmt: skip

EXPOSURE_FIGURES: tuple[Figure, ...] = (
    Figure("exposure.max", _BITS.format(what="the most exposed canary"), range=(0.0, float("inf")),
           ceiling="max_possible", headline=True, name="max canary exposure (bits)", unit="canaries"),
    Figure("exposure.mean", _BITS.format(what="the average canary"), range=(0.0, float("inf")),
           ceiling="max_possible", name="mean canary exposure (bits)", unit="canaries"),
    Figure("exposure.by_repeats.<repeats>.<stat>", _BITS.format(what="the canaries seen {repeats} times"),
           range=(0.0, float("inf")), ceiling="max_possible", unit="canaries"),
    Figure("exposure.rank1_rate", "Share of canaries the model ranks first among every candidate secret: it gives "
           "them away.", name="canaries ranked first", unit="canaries"),
    Figure("exposure.max_possible", "log2 of the number of candidate secrets: the exposure of a canary ranked "
           "first.", better="higher", range=(0.0, float("inf")), unit="canaries"),
)  # fmt: skip

UNTARGETED_FIGURES: tuple[Figure, ...] = (
    Figure("untargeted.verbatim_rate", "Share of sampled texts that contain a span found verbatim in the corpus "
           "(Carlini et al. 2021).", name="untargeted verbatim rate", unit="samples"),
    Figure("untargeted.<ranking>.<metric>", "Share of the top samples by {ranking} found verbatim in the corpus.",
           unit="samples"),
)  # fmt: skip


def _extraction_entry(entry: dict, r: dict, suffix: str = "") -> None:
    m = r["metric"]
    if suffix:
        entry[m + suffix] = r["value"]
        return
    put(entry, m, r)
    if r.get("n") is not None:
        entry["n"] = r["n"]


def extraction_tree(rows: list[dict]) -> dict[str, dict]:
    """``{"extraction": {...}, "extraction_canaries": {...}}`` (either may be empty)."""
    out: dict[str, dict] = {"extraction": {}, "extraction_canaries": {}}
    for r in rows:
        base, key, val = split_task(r["task"])
        if base not in out:
            continue  # not a task of docs/records.md's extraction family
        tree = out[base]
        prefix = (r.get("extra") or {}).get("prefix_len")
        if key is None:
            _extraction_entry(tree, r)
            if prefix is not None and base == "extraction":
                put(tree, f"{r['metric']}@{prefix}", r)
        elif key == "prefix_len":
            put(tree, f"{r['metric']}@{val}", r)
            _extraction_entry(tree.setdefault("by_prefix_len", {}).setdefault(str(val), {}), r)
        elif key == "repeats":
            _extraction_entry(tree.setdefault("by_repeats", {}).setdefault(str(val), {}), r)
    return {k: v for k, v in out.items() if v}


def exposure_tree(rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for r in rows:
        _, key, val = split_task(r["task"])
        if key is None:
            name = {"exposure": "mean"}.get(r["metric"], r["metric"])
            put(out, name, r)
            if r.get("n") is not None:
                out["n"] = r["n"]
        elif key == "max":
            put(out, "max", r)
        elif key == "repeats":
            entry = out.setdefault("by_repeats", {}).setdefault(str(val), {})
            put(entry, "mean", r)
            if (r.get("extra") or {}).get("max") is not None:
                entry["max"] = r["extra"]["max"]
            if r.get("n") is not None:
                entry["n"] = r["n"]
    return out


def untargeted_tree(rows: list[dict]) -> dict:
    """``{ranking: {metric: value}}``; a task ``untargeted@<ranking>`` names its ranking after the ``@``, and
    the plain ``untargeted`` task's metrics (overall rates) sit at the top."""
    out: dict[str, Any] = {}
    for r in rows:
        base, _, ranking = r["task"].partition("@")
        entry = out if base == "untargeted" and not ranking else out.setdefault(ranking or base, {})
        put(entry, r["metric"], r)
    return out
