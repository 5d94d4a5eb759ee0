"""Training-data extraction probes.

* discoverable extraction (``extraction_result``, ``extraction_scores``): greedy decoding from training
  texts' prefixes, exact / token-match / approximate memorization (Carlini et al. 2023; Biderman et
  al. 2023; Ippolito et al. 2022);
* canary exposure (``exposure_result``): rank of a secret among its candidate space (Carlini et al. 2019);
* untargeted extraction (``untargeted_result``): sample, rank, check against the corpus (Carlini et al. 2021).

Each runs at one point of the loop through its family (``family``); on a loaded model with a run directory,
``auditor.pipeline.library`` has ``run_extraction``, ``run_exposure`` and ``run_untargeted``. Modules: ``match``
(metrics), ``items`` (prefix/suffix cutting), ``discoverable``, ``runner`` + ``summary``, ``candidates`` +
``exposure`` + ``exposure_runner``, ``sampling`` + ``ngrams`` + ``untargeted``, ``config``.
"""

from __future__ import annotations

from auditor.probes.extraction.config import ExposureConfig, ExtractionConfig, UntargetedConfig
from auditor.probes.extraction.discoverable import extraction_scores

__all__ = [
    "ExposureConfig",
    "ExtractionConfig",
    "UntargetedConfig",
    "extraction_scores",
]
