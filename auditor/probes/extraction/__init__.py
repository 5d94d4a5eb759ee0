"""Training-data extraction probes.

* discoverable extraction (``run_extraction``, ``extraction_scores``): greedy decoding from training
  texts' prefixes, exact / token-match / approximate memorization (Carlini et al. 2023; Biderman et
  al. 2023; Ippolito et al. 2022);
* canary exposure (``run_exposure``): rank of a secret among its candidate space (Carlini et al. 2019);
* untargeted extraction (``run_untargeted``): sample, rank, check against the corpus (Carlini et al. 2021).

Modules: ``decoding`` (batched cached greedy/sampled decoding), ``match`` (metrics), ``items``
(prefix/suffix cutting), ``discoverable``, ``runner``, ``candidates`` + ``exposure`` +
``exposure_runner``, ``sampling`` + ``ngrams`` + ``untargeted``, ``config``.
"""

from __future__ import annotations

from auditor.probes.extraction.config import ExposureConfig, ExtractionConfig, UntargetedConfig
from auditor.probes.extraction.discoverable import extraction_scores
from auditor.probes.extraction.exposure_runner import run_exposure
from auditor.probes.extraction.runner import run_extraction
from auditor.probes.extraction.untargeted import run_untargeted

__all__ = [
    "ExposureConfig",
    "ExtractionConfig",
    "UntargetedConfig",
    "extraction_scores",
    "run_exposure",
    "run_extraction",
    "run_untargeted",
]
