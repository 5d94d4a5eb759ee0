"""The registry of probe families, built explicitly here (no registration by import side effect).

A family runs at a point and returns records (see :mod:`auditor.family`). ``lm_eval:<task>`` names any
lm-eval task. What each family needs is declared on it (``needs``, ``section``), not checked by name
elsewhere.
"""

from __future__ import annotations

from auditor.capability.family import CapabilityFamily, lm_eval_family
from auditor.capability.schema import FAMILIES as CAPABILITY_FAMILIES
from auditor.family import Family
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
FAMILIES.register_prefix("lm_eval:", lm_eval_family)

MEMORIZATION = ("mia", "extraction", "exposure", "untargeted")  # what the memorization-vs-capability view plots
