"""zlib and lowercase ratios: Carlini et al. 2021, "Extracting Training Data from Large Language
Models" (USENIX Security 2021, arXiv:2012.07805), section 5.2.

* zlib: the ratio of the text's log-perplexity (total negative log-likelihood, in nats) to its zlib
  compressed length in bits. Memorized text is likelier than its compressibility suggests, so the
  ratio is low for members; score = -ratio.
* lowercase: log-perplexity of the lowercased text minus that of the original (mean per token).
  Memorization is tied to the exact casing, so members gain more; score = that difference.
"""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs, mean_logprob


def zlib_score(inputs: AttackInputs) -> np.ndarray:
    nll_total = np.array([-a.sum() for a in inputs.target.logprob])
    bits = np.array(inputs.target.zlib_bytes, dtype=np.float64) * 8.0
    return -nll_total / bits


def lowercase_score(inputs: AttackInputs) -> np.ndarray:
    assert inputs.lowercase is not None
    return mean_logprob(inputs.target) - mean_logprob(inputs.lowercase)


PAPER = "Carlini et al. 2021, arXiv:2012.07805"
ATTACKS.register("zlib")(Attack("zlib", zlib_score, paper=PAPER))
ATTACKS.register("lowercase")(Attack("lowercase", lowercase_score, needs=("lowercase",), paper=PAPER))
