"""The config sections every pipeline shares (one per family's data), the calibration section, and labs.

``SweepConfig``, ``AuditConfig`` and the unlearning comparison all carry these sections, so a family reads
the same keys whichever command runs it (``mia.members``, ``extraction.data``, ``exposure.canaries``,
``untargeted.corpus``, ``capability.source``, ...).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from auditor.capability.builders import CapabilityConfig
from auditor.errors import ConfigError
from auditor.inputs.data import load_texts
from auditor.lab.build import SHIPPED_DIR, verify_hashes
from auditor.models.load import LoadedModel
from auditor.probes.extraction.family import ExposureSection, ExtractionSection, UntargetedSection
from auditor.probes.mia.family import MIASection
from auditor.pruning import PRUNERS, PruneSpec
from auditor.pruning.calibration import calibration_rows
from auditor.unlearning.measures import UnlearningSection

log = logging.getLogger(__name__)

GRANULARITIES = (None, "layer", "row", "global")  # None: the method's own


@dataclass(frozen=True)
class CalibrationConfig:
    """Calibration texts for Wanda and SparseGPT (default: the lab's calibration.jsonl, else the shipped lab's)."""

    path: str | None = None
    text_column: str = "text"
    n_samples: int = 64  # rows of seq_len tokens
    seq_len: int = 128


@dataclass(frozen=True, kw_only=True)
class Sections:
    """The per-family sections (defaults: the lab's files when ``lab:`` is set)."""

    mia: MIASection = field(default_factory=MIASection)
    extraction: ExtractionSection = field(default_factory=ExtractionSection)
    exposure: ExposureSection = field(default_factory=ExposureSection)
    untargeted: UntargetedSection = field(default_factory=UntargetedSection)
    capability: CapabilityConfig = field(default_factory=CapabilityConfig)
    unlearning: UnlearningSection = field(default_factory=UnlearningSection)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


def with_limit(sections: Sections, limit: int | None) -> Sections:
    """Apply a global ``limit`` to every section that reads data and has none of its own."""
    if limit is None:
        return sections
    out = {}
    for name in ("mia", "extraction", "capability"):
        sec = getattr(sections, name)
        if sec.limit is None:
            out[name] = dataclasses.replace(sec, limit=limit)
    return dataclasses.replace(sections, **out)


def resolve_lab(lab: str | None) -> Path | None:
    """A lab folder; ``standard`` is the lab shipped in the package (its hashes are checked)."""
    if not lab:
        return None
    if lab == "standard":
        verify_hashes(SHIPPED_DIR)
        return SHIPPED_DIR
    path = Path(lab)
    if not (path / "members.jsonl").exists():
        raise ConfigError(f"lab: {lab} is not a lab folder (no members.jsonl); use 'standard' or `auditor lab build`")
    return path


def calibration_path(cal: CalibrationConfig, lab: Path | None) -> str:
    if cal.path:
        return cal.path
    if lab is not None:
        return str(lab / "calibration.jsonl")
    path = str(SHIPPED_DIR / "calibration.jsonl")
    log.warning("calibration.path not set and no lab: calibrating on the shipped lab's texts (%s)", path)
    return path


def calibration_loader(cal: CalibrationConfig, lab: Path | None, lm: LoadedModel) -> list:
    """Token rows for Wanda / SparseGPT calibration (called only when a method needs them)."""
    return calibration_for(cal, lab, lm.tokenizer)


def calibration_for(cal: CalibrationConfig, lab: Path | None, tokenizer: PreTrainedTokenizerBase) -> list:
    """Token rows for Wanda / SparseGPT calibration from the tokenizer alone: made before the model loads, so a
    missing file or too few tokens stops the run before any work."""
    texts = load_texts(calibration_path(cal, lab), cal.text_column, None).texts
    return calibration_rows(tokenizer, texts, cal.n_samples, cal.seq_len)


def needs_calibration(methods: Sequence[str]) -> bool:
    return any(getattr(PRUNERS.get(m), "needs_calibration", False) for m in methods)


def check_pruning(
    methods: Sequence[str], sparsities: Sequence[float], structure: str = "unstructured", granularity: str | None = None
) -> None:
    """Pruning method names, sparsities (each in [0, 1)), structure and granularity, checked when the config is
    read (a bad one found at the first pruned point would come after the dense point's work)."""
    for m in methods:
        PRUNERS.get(m)
    for s in sparsities:
        if not 0.0 <= s < 1.0:
            raise ConfigError(f"sparsities: {s!r} is not a fraction in [0, 1); give values like 0.5 (half zeroed)")
    PruneSpec(sparsity=0.0, structure=structure)
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity: {granularity!r} is unknown; use one of layer, row, global (or leave it out)")


def source_notes(source: str) -> list[str]:
    """Notes on how the checkpoint's weights came to be that bear on pruning (e.g. a quantized source)."""
    if source == "smollm2-135m" or source.lower().endswith(".gguf"):
        return [
            "weights dequantized from a quantized GGUF source (SmolLM2-135M-Instruct is shipped as Q4_1): each "
            "block of 32 weights takes at most 16 distinct values, so magnitude ranks have many ties; masks break "
            "ties deterministically (stable sort: the lower flat index is pruned first)"
        ]
    return []
