"""The settings of the three extraction probes (frozen dataclasses; ``validate`` raises ConfigError)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from auditor.errors import ConfigError


def _positive(name: str, value: int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


def _seed(value: int) -> None:
    """Seeds are whole numbers >= 0 (numpy's generators refuse negative ones)."""
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {value!r}")


USER_LENGTHS: tuple[tuple[int, ...], int] = ((32,), 32)  # Carlini et al. 2023 / Pythia: 32-token prefix and suffix
LAB_LENGTHS: tuple[tuple[int, ...], int] = ((4, 8, 16), 16)  # the lab's biographies are ~40 tokens
HEADLINE_PREFIX = 32  # the headline prefix length when swept (else the longest swept length)


@dataclass(frozen=True)
class ExtractionConfig:
    """Discoverable extraction (greedy decoding from training-text prefixes): the one config of the probe.

    The YAML section ``extraction:`` and ``auditor extract``'s flags both build it (key ``prefix_lens`` is flag
    ``--prefix-lens``, ...). The lengths left unset (None) are filled by :meth:`resolved`: on the lab's own short
    texts (4, 8, 16) and 16, on the user's 32 and 32.
    """

    enabled: bool = True
    data: str | None = None  # the texts (jsonl/csv/parquet/txt/HF dir); None: the lab's members
    limit: int | None = None  # only the first N rows of data
    prefix_len: int | None = None  # the headline prefix length (default 32); alone, the one length measured
    prefix_lens: tuple[int, ...] | None = None  # prefix-length sweep (text tokens; a BOS in front is not counted)
    suffix_len: int | None = None  # target tokens after the prefix; exactly this many are decoded
    batch_size: int | None = None  # prompts per decoding batch; None: the run's (auto: 32 CPU / 128 GPU, halved)
    unit_size: int = 256  # texts per resumable unit
    approx_threshold: float = 0.75  # approximately memorized: approx_metric >= this (Ippolito et al. 2022)
    approx_metric: str = "similarity"  # similarity (1 - token edit distance / m) or bleu (BLEU-4)
    text_column: str = "text"
    id_column: str = "id"
    repeats_column: str | None = "repeats"  # duplication count column, if the rows carry one (by_repeats)
    prefix_column: str | None = None  # column mode: rows carry their own prefix ...
    suffix_column: str | None = None  # ... and suffix strings (e.g. the lab's canaries: prefix / secret)
    keep_text: bool = True  # write the generated and true suffix text into the samples (reports can redact)
    # greedy extraction of the canaries' secrets from their prefixes, by repeat count (task extraction_canaries);
    # on by default when there are canaries (the exposure section's, or the lab's); an audit or sweep only
    canaries: bool = True

    def __post_init__(self) -> None:
        self.validate()

    @property
    def column_mode(self) -> bool:
        return self.prefix_column is not None

    def resolved(self, lab_texts: bool = False) -> ExtractionConfig:
        """The config with every length set: as given, else the defaults for the lab's texts or the user's."""
        prefix, suffix = LAB_LENGTHS if lab_texts else USER_LENGTHS
        lens = self.prefix_lens or ((self.prefix_len,) if self.prefix_len else prefix)
        return replace(
            self,
            prefix_len=self.prefix_len or HEADLINE_PREFIX,
            prefix_lens=tuple(lens),
            suffix_len=self.suffix_len or suffix,
        )

    def sweep(self) -> tuple[int, ...]:
        """The prefix lengths measured, ascending (unset lengths: the user defaults)."""
        return tuple(sorted(set(self.resolved().prefix_lens or ())))

    def headline(self) -> int:
        """The prefix length of the headline figures: ``prefix_len`` if swept, else the longest swept length."""
        s, k = self.sweep(), self.resolved().prefix_len
        return k if k in s else s[-1]

    def validate(self) -> None:
        for k in self.prefix_lens or ():
            _positive("prefix_len", k, allow_none=False)
        for name in ("prefix_len", "suffix_len", "batch_size", "limit"):
            _positive(name, getattr(self, name))
        _positive("unit_size", self.unit_size, allow_none=False)
        if not 0.0 <= self.approx_threshold <= 1.0:
            raise ConfigError(f"approx_threshold must be in [0, 1], got {self.approx_threshold}")
        if self.approx_metric not in ("similarity", "bleu"):
            raise ConfigError(f"approx_metric must be 'similarity' or 'bleu', got {self.approx_metric!r}")
        if (self.prefix_column is None) != (self.suffix_column is None):
            raise ConfigError("column mode needs both prefix_column and suffix_column (e.g. prefix and secret)")


@dataclass(frozen=True)
class ExposureConfig:
    """Canary exposure (Carlini et al. 2019, "The Secret Sharer")."""

    prefix_column: str = "prefix"
    secret_column: str = "secret"
    id_column: str = "id"
    repeats_column: str | None = "repeats"
    space: str = "digits"  # "digits": every secret's digits replaced by all digit strings; "list": candidates
    candidates: tuple[str, ...] = ()  # the candidate secrets when space == "list" (the true secret is added)
    method: str = "auto"  # exact (rank among all candidates) | estimate (skew-normal fit) | auto
    max_enumerate: int = 100_000  # auto: exact when the space has at most this many candidates
    n_estimate: int = 5_000  # candidates sampled (uniformly, seeded) for the estimate
    seed: int = 0
    batch_size: int | None = None  # sequences per forward pass; None = auto (256 CPU / 1024 GPU)
    unit_size: int = 8  # canaries per resumable unit

    def validate(self) -> None:
        if self.space not in ("digits", "list"):
            raise ConfigError(f"exposure space must be 'digits' or 'list', got {self.space!r}")
        if self.space == "list" and len(set(self.candidates)) < 1:
            raise ConfigError("space 'list' needs candidates: give the candidate secrets")
        if self.method not in ("auto", "exact", "estimate"):
            raise ConfigError(f"exposure method must be auto, exact or estimate, got {self.method!r}")
        _positive("max_enumerate", self.max_enumerate, allow_none=False)
        _positive("n_estimate", self.n_estimate, allow_none=False)
        _positive("batch_size", self.batch_size)
        _positive("unit_size", self.unit_size, allow_none=False)
        _seed(self.seed)
        if self.n_estimate < 10:
            raise ConfigError(f"n_estimate must be at least 10 to fit a distribution, got {self.n_estimate}")


@dataclass(frozen=True)
class UntargetedConfig:
    """Untargeted extraction (Carlini et al. 2021, "Extracting training data from large language models")."""

    n_samples: int = 100  # generations
    sample_len: int = 64  # new tokens per generation (exactly this many; EOS does not stop)
    top_k: int | None = 40  # sample from the k most likely tokens (the paper's default); None = no top-k
    top_p: float | None = None  # nucleus sampling instead of / after top-k
    temperature: float = 1.0
    seed: int = 0
    ngram: int = 50  # verbatim check: a sample is corpus text if any of its n-token windows is in the corpus
    top_ns: tuple[int, ...] = (10, 100)  # report verbatim counts among the top-n samples of each ranking
    batch_size: int | None = None
    unit_size: int = 64  # generations per resumable unit (each unit seeded by (seed, unit index))
    text_column: str = "text"
    id_column: str = "id"

    def validate(self) -> None:
        _positive("n_samples", self.n_samples, allow_none=False)
        _positive("sample_len", self.sample_len, allow_none=False)
        _positive("top_k", self.top_k)
        _positive("ngram", self.ngram, allow_none=False)
        _positive("batch_size", self.batch_size)
        _positive("unit_size", self.unit_size, allow_none=False)
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"temperature must be a finite number > 0, got {self.temperature}")
        _seed(self.seed)
        if self.ngram > self.sample_len:
            raise ConfigError(
                f"ngram ({self.ngram}) is longer than sample_len ({self.sample_len}): no sample could be checked; "
                "lower --ngram or raise --sample-len"
            )
