"""The settings of ``auditor forecast`` (a frozen dataclass; ``validate`` raises ConfigError)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import ConfigError


@dataclass(frozen=True)
class ForecastConfig:
    """How each model's memorization is measured, and how the forecast's intervals are drawn.

    The measurement is Biderman et al. 2023 ("Emergent and Predictable Memorization in Large Language
    Models", NeurIPS, arXiv:2304.11158): greedy decoding of ``suffix_len`` tokens after a ``prefix_len``
    token prefix; a sequence is memorized (k-extractable) when every suffix token is reproduced.
    """

    prefix_len: int = 32  # prefix text tokens of a plain-text row (a BOS in front is not counted)
    suffix_len: int = 32  # suffix tokens greedy decoding must reproduce
    batch_size: int | None = None  # sequences per batch; None = auto (halved on out-of-memory)
    text_column: str = "text"  # plain-text rows: the text
    id_column: str = "id"  # ids (row numbers when absent); unique over every --data file
    prefix_column: str = "prefix"  # canary rows: the prefix ...
    secret_column: str = "secret"  # ... and the secret greedy decoding must reproduce
    repeats_column: str | None = "repeats"  # duplication counts, copied into examples.jsonl when present
    exposure: bool = True  # canary rows: also the exposure of the secret (Carlini et al. 2019)
    n_boot: int = 1000  # bootstrap resamples of each AUC's 95% CI
    seed: int = 0  # seed of the bootstrap (and of the exposure estimate for large secret spaces)

    def validate(self) -> None:
        for name in ("prefix_len", "suffix_len", "n_boot"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError(f"batch_size must be a whole number >= 1 or auto, got {self.batch_size!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if self.prefix_column == self.secret_column:
            raise ConfigError(f"the prefix and secret columns must differ, both are {self.prefix_column!r}")
