"""The registry of probe families, built explicitly here (no registration by import side effect), and what
their figures mean.

A family runs at a point and returns records, and declares the figures those records become (see
:mod:`auditor.family`). ``lm_eval:<task>`` names any lm-eval task. The report, summary.json, the terminal
tables and the gate find a figure's meaning, direction, range and headline here, through :func:`declared`,
so adding a family is its own folder plus one line of this registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditor.capability.family import CapabilityFamily, lm_eval_family
from auditor.capability.schema import FAMILIES as CAPABILITY_FAMILIES
from auditor.family import Family, Figure
from auditor.lab.family import LabFamily
from auditor.probes.extraction.family import ExposureFamily, ExtractionFamily, UntargetedFamily
from auditor.probes.mia.family import MIAFamily
from auditor.registry import Registry
from auditor.unlearning.measures import UnlearningFamily

FAMILIES: Registry[Family] = Registry(
    "family",
    {
        "mia": MIAFamily(),
        "extraction": ExtractionFamily(),
        "exposure": ExposureFamily(),
        "untargeted": UntargetedFamily(),
        **{name: CapabilityFamily(name) for name in CAPABILITY_FAMILIES},
        "lab": LabFamily(),
        "unlearning": UnlearningFamily(),
    },
)
LM_EVAL = "lm_eval:"
FAMILIES.register_prefix(LM_EVAL, lm_eval_family)

MEMORIZATION = ("mia", "extraction", "exposure", "untargeted")  # what the memorization-vs-capability view plots

# Figures of the loop itself, not of a family: every pruned point's measured sparsity.
POINT_FIGURES = (Figure("actual_sparsity", "Share of the pruned layers' weights that are zero at this point."),)
_POINT = re.compile(r"^points\.[^.]+\.\d+(?:\.\d+)?(?:e-?\d+)?\.")
CI_ENDS = (".ci_low", ".ci_high")


def family(name: str) -> Family | None:
    """The registered family of a record's ``family`` field, or None (a family this process does not know)."""
    return FAMILIES.get(name) if name in FAMILIES else None


def figures_of(names: Iterable[str] | None = None) -> list[Figure]:
    """The declared figures of the named families (default: every registered one, ``lm_eval:<task>`` included),
    in registry order; the first whose path matches a figure is its declaration."""
    if names is None:
        names = [*FAMILIES.in_order(), f"{LM_EVAL}<task>"]
    out: list[Figure] = []
    for name in dict.fromkeys(names):
        out += FAMILIES.get(name).figures
    return out + list(POINT_FIGURES)


def strip_path(path: str) -> str:
    """A rule path without its ``points.<method>.<sparsity>.`` prefix and ``.ci_low`` / ``.ci_high`` end."""
    path = _POINT.sub("", path)
    for end in CI_ENDS:
        if path.endswith(end):
            return path[: -len(end)]
    return path


def declared(path: str, families: Iterable[str] | None = None) -> Figure | None:
    """The declaration of the figure at ``path`` (a figures-tree or rule path, e.g. ``mia.loss.auc.ci_low`` or
    ``points.magnitude.0.5.extraction.exact_extraction_rate``) among ``families`` (default: all), or None."""
    bare = strip_path(path)
    return next((f for f in figures_of(families) if f.match(bare) is not None), None)
