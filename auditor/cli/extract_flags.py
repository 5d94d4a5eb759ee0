"""The flags of ``auditor extract``, ``exposure`` and ``generate-extract`` turned into their probes' configs.

Bad values fail here with one line naming the flag, before any run directory opens or any model loads.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from auditor.cli.common import batch_size_arg
from auditor.errors import ConfigError

if TYPE_CHECKING:
    from auditor.probes.extraction.config import ExposureConfig, ExtractionConfig, UntargetedConfig


def read_data_rows(path: str, what: str) -> list[dict]:
    """Rows of a data file, every column kept; any read failure becomes an InputError naming the file."""
    from auditor.probes.extraction.rows import read_data_rows as read

    return read(path, what)


def int_list(value: str | None, flag: str) -> tuple[int, ...]:
    """A comma-separated list of whole numbers >= 1 (empty: none)."""
    if not value:
        return ()
    try:
        out = tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError as e:
        raise ConfigError(f"{flag} must be comma-separated whole numbers, e.g. 8,16,32,64; got {value!r}") from e
    if not out or min(out) < 1:
        raise ConfigError(f"{flag} must list whole numbers >= 1, got {value!r}")
    return out


def extraction_config(a: argparse.Namespace) -> ExtractionConfig:
    """The ExtractionConfig from the flags, as the YAML section ``extraction:`` with the same keys gives it (lengths
    left unset stay None); bad lengths and columns fail here, before any model is loaded."""
    from auditor.probes.extraction.config import ExtractionConfig

    return ExtractionConfig(
        data=a.data,
        limit=a.limit,
        prefix_len=a.prefix_len,
        suffix_len=a.suffix_len,
        prefix_lens=int_list(a.prefix_lens, "--prefix-lens") or None,
        batch_size=batch_size_arg(a.batch_size),
        approx_threshold=a.approx_threshold,
        approx_metric=a.approx_metric,
        text_column=a.text_column,
        id_column=a.id_column,
        repeats_column=a.repeats_column or None,
        prefix_column=a.prefix_column,
        suffix_column=a.suffix_column,
        keep_text=not a.no_text,
    )


def exposure_config(a: argparse.Namespace) -> ExposureConfig:
    """The ExposureConfig from the flags (the candidate file read here, before any model is loaded)."""
    from auditor.probes.extraction.config import ExposureConfig

    candidates: tuple[str, ...] = ()
    if a.candidates:
        candidates = tuple(r.get("text", "") for r in read_data_rows(a.candidates, "candidate file"))
    cfg = ExposureConfig(
        prefix_column=a.prefix_column,
        secret_column=a.secret_column,
        id_column=a.id_column,
        repeats_column=a.repeats_column or None,
        space="list" if candidates else "digits",
        candidates=candidates,
        method=a.method,
        max_enumerate=a.max_enumerate,
        n_estimate=a.n_estimate,
        seed=a.seed,
        batch_size=batch_size_arg(a.batch_size),
    )
    cfg.validate()
    return cfg


def untargeted_config(a: argparse.Namespace) -> UntargetedConfig:
    """The UntargetedConfig from the flags."""
    from auditor.probes.extraction.config import UntargetedConfig

    cfg = UntargetedConfig(
        n_samples=a.samples,
        sample_len=a.sample_len,
        top_k=a.top_k or None,
        top_p=a.top_p,
        temperature=a.temperature,
        seed=a.seed,
        ngram=a.ngram,
        batch_size=batch_size_arg(a.batch_size),
        text_column=a.text_column,
        id_column=a.id_column,
    )
    cfg.validate()
    return cfg
