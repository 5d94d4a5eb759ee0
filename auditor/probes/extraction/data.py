"""What the ``extraction`` family is given once its data are prepared: read by the family, its check before
the model loads (:mod:`auditor.probes.extraction.precheck`) and the one-point plans of the library."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.inputs.data import TextSet
from auditor.probes.extraction.config import ExtractionConfig


@dataclass(frozen=True)
class ExtractionData:
    """What the family extracts: texts (or rows with their own prefix and suffix), settings, and canaries."""

    texts: TextSet | list[dict]
    config: ExtractionConfig  # resolved (:meth:`ExtractionConfig.resolved`): every length set
    canaries: list[dict] | None = None
    source: str = "data"  # where the rows came from, for messages (a TextSet names its own)
    flags: bool = False  # the config came from ``auditor extract``'s flags: messages name flags, not YAML keys
