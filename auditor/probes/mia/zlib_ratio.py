"""zlib and lowercase ratios: Carlini et al. 2021, "Extracting Training Data from Large Language
Models" (USENIX Security 2021, arXiv:2012.07805), section 5.2.

* zlib: the ratio of the text's log-perplexity (the MEAN negative log-likelihood per token, in nats)
  to its zlib entropy (the length in bytes of ``zlib.compress`` of its UTF-8 bytes). Memorized text is
  likelier than its compressibility suggests, so the ratio is low for members; score = -ratio, i.e.
  mean log-likelihood / zlib bytes, as in the Min-K%++ and MIMIR reference code and in our untargeted
  ranking (``auditor.probes.extraction.untargeted``). Earlier versions divided the TOTAL NLL, which
  reorders texts of different lengths; the mean is the paper's definition.
* lowercase: log-perplexity of the lowercased text minus that of the original (mean per token).
  Memorization is tied to the exact casing, so members gain more; score = that difference.
"""

from __future__ import annotations

import numpy as np

from auditor.probes.mia.base import ATTACKS, Attack, AttackInputs, mean_logprob


def zlib_score(inputs: AttackInputs) -> np.ndarray:
    zlib_bytes = np.array(inputs.target.zlib_bytes, dtype=np.float64)
    return mean_logprob(inputs.target) / zlib_bytes


def lowercase_score(inputs: AttackInputs) -> np.ndarray:
    assert inputs.lowercase is not None
    return mean_logprob(inputs.target) - mean_logprob(inputs.lowercase)


PAPER = "Carlini et al. 2021, arXiv:2012.07805"
ATTACKS.register("zlib")(Attack("zlib", zlib_score, paper=PAPER))
ATTACKS.register("lowercase")(Attack("lowercase", lowercase_score, needs=("lowercase",), paper=PAPER))
