"""Canary exposure (Carlini et al. 2019, "The Secret Sharer: evaluating and testing unintended memorization
in neural networks", USENIX Security, arXiv:1802.08232).

A canary is a prefix ("The secret code of X is") and a secret (" 3721") from a candidate space R (here:
every digit string of the secret's shape, ``space="digits"``, or an explicit list). Candidates are
ranked by the model's log-likelihood of the candidate given the prefix (rank 1 = most likely), and

    exposure = log2 |R| - log2 rank(secret)

so a secret the model ranks first in a space of 10^4 has exposure log2(10^4) = 13.29, and a secret
the model knows nothing about has expected exposure about 1. Ties are mid-ranked (rank = 1 + #higher
+ #tied / 2), so a model that scores every candidate alike gets exposure ~1, not the maximum.

* ``exact``: every candidate is scored (``candidates.candidate_logliks`` shares work between candidates
  that differ in their last token) when |R| <= ``max_enumerate``;
* ``estimate``: the paper's extrapolation (Section 4.3): score ``n_estimate`` candidates drawn
  uniformly from R, fit a skew-normal to their log-perplexities (bits, -log2 p), and take
  exposure = -log2 P(X <= x_secret) under the fit, capped at log2 |R|. scipy (``scipy.stats.skewnorm``)
  is used when installed; without it a normal is fitted (noted in the output as ``fit: "normal"``).
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError
from auditor.probes.extraction.candidates import candidate_logliks
from auditor.probes.extraction.config import ExposureConfig
from auditor.probes.extraction.items import split_special

DIGITS = "0123456789"


def mid_rank(logliks: np.ndarray, secret_index: int) -> float:
    """1 + #candidates more likely than the secret + half the number of others tied with it."""
    s = logliks[secret_index]
    higher = int((logliks > s).sum())
    ties = int((logliks == s).sum()) - 1
    return 1.0 + higher + ties / 2.0


def exposure_from_rank(rank: float, space_size: int) -> float:
    return math.log2(space_size) - math.log2(rank)


def digit_slots(secret: str) -> list[int]:
    slots = [i for i, ch in enumerate(secret) if ch in DIGITS]
    if not slots:
        raise ConfigError(
            f"secret {secret!r} has no digits, so the 'digits' candidate space is empty; "
            "give an explicit candidate list (space 'list')"
        )
    return slots


def fill(secret: str, slots: list[int], digits: Sequence[str]) -> str:
    chars = list(secret)
    for i, d in zip(slots, digits, strict=True):
        chars[i] = d
    return "".join(chars)


def space_size(secret: str, config: ExposureConfig) -> int:
    if config.space == "digits":
        return 10 ** len(digit_slots(secret))
    return len(set(config.candidates) | {secret})


def enumerate_space(secret: str, config: ExposureConfig) -> list[str]:
    """Every candidate, the secret included (digits: in numeric order)."""
    if config.space == "digits":
        slots = digit_slots(secret)
        return [fill(secret, slots, d) for d in itertools.product(DIGITS, repeat=len(slots))]
    return sorted(set(config.candidates) | {secret})


def sample_space(secret: str, config: ExposureConfig, rng: np.random.Generator) -> list[str]:
    """``n_estimate`` candidates drawn uniformly (with replacement) from the space."""
    if config.space == "digits":
        slots = digit_slots(secret)
        draws = rng.integers(0, 10, size=(config.n_estimate, len(slots)))
        return [fill(secret, slots, [DIGITS[d] for d in row]) for row in draws]
    pool = sorted(set(config.candidates) | {secret})
    return [pool[i] for i in rng.integers(0, len(pool), size=config.n_estimate)]


def fit_log_cdf(samples_bits: np.ndarray, x: float) -> tuple[float, str]:
    """log P(X <= x) (natural log) under a skew-normal fitted to ``samples_bits`` (normal without scipy)."""
    try:
        from scipy import stats
    except ImportError:
        mu, sd = float(samples_bits.mean()), float(samples_bits.std(ddof=1)) or 1e-12
        z = (x - mu) / sd
        cdf = 0.5 * math.erfc(-z / math.sqrt(2))
        return (math.log(cdf) if cdf > 0 else -745.0), "normal"
    a, loc, scale = stats.skewnorm.fit(samples_bits)
    return float(stats.skewnorm.logcdf(x, a, loc=loc, scale=scale)), "skewnorm"


def canary_exposure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prefix: str,
    secret: str,
    config: ExposureConfig,
    canary_id: str = "",
) -> dict:
    """``rank`` (exact only), ``exposure``, ``log_likelihood`` of the secret (nats), ``space_size``, ``method``."""
    size = space_size(secret, config)
    method = config.method
    if method == "auto":
        method = "exact" if size <= config.max_enumerate else "estimate"
    lead, toks = split_special(tokenizer, [prefix])[0]
    prefix_ids = lead + toks
    pad = tokenizer.pad_token_id
    if method == "exact":
        cands = enumerate_space(secret, config)
        ids = tokenizer(cands, add_special_tokens=False)["input_ids"]
        ll = candidate_logliks(model, prefix_ids, ids, pad, config.batch_size)
        s = cands.index(secret)
        rank = mid_rank(ll, s)
        return {
            "method": "exact",
            "space_size": size,
            "rank": rank,
            "exposure": exposure_from_rank(rank, size),
            "log_likelihood": float(ll[s]),
        }
    rng = np.random.default_rng([config.seed, zlib.crc32(canary_id.encode())])
    cands = [*sample_space(secret, config, rng), secret]
    ids = tokenizer(cands, add_special_tokens=False)["input_ids"]
    ll = candidate_logliks(model, prefix_ids, ids, pad, config.batch_size)
    bits = -ll / math.log(2)
    log_cdf, fit = fit_log_cdf(bits[:-1], float(bits[-1]))
    exposure = min(math.log2(size), max(0.0, -log_cdf / math.log(2)))
    return {
        "method": "estimate",
        "fit": fit,
        "space_size": size,
        "exposure": exposure,
        "log_likelihood": float(ll[-1]),
        "n_sampled": config.n_estimate,
        "sampled_more_likely": int((ll[:-1] > ll[-1]).sum()),
    }
