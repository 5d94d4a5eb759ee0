"""Families ``extraction``, ``exposure`` and ``untargeted``: the extraction probes at one point.

* ``extraction``: discoverable extraction (Carlini et al. 2023; Biderman et al. 2023; approximate
  memorization after Ippolito et al. 2022) of the section's texts (default: the lab's members) at every
  prefix length, plus greedy extraction of the canaries' secrets from their prefixes (task
  ``extraction_canaries``) when canaries are known;
* ``exposure``: canary exposure (Carlini et al. 2019);
* ``untargeted``: sampling, ranking and a verbatim check against a corpus (Carlini et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError
from auditor.family import FamilyContext, lab_file
from auditor.inputs.data import TextSet, read_rows
from auditor.probes.extraction.config import ExposureConfig, ExtractionConfig, UntargetedConfig
from auditor.probes.extraction.data import ExtractionData
from auditor.probes.extraction.exposure_runner import exposure_result
from auditor.probes.extraction.figures import (
    EXPOSURE_FIGURES,
    EXTRACTION_FIGURES,
    UNTARGETED_FIGURES,
    exposure_tree,
    extraction_tree,
    untargeted_tree,
)
from auditor.probes.extraction.precheck import check_extraction
from auditor.probes.extraction.rows import read_data_rows
from auditor.probes.extraction.runner import extraction_result
from auditor.probes.extraction.untargeted import read_corpus, untargeted_result
from auditor.store.runs import Record

ExtractionSection = ExtractionConfig  # the YAML section ``extraction:`` is the probe's one config


@dataclass(frozen=True)
class ExposureSection:
    """Canary exposure (Carlini et al. 2019); canaries file rows hold prefix, secret and optional repeats."""

    enabled: bool = True
    canaries: str | None = None  # default: the lab's canaries
    method: str = "auto"  # exact | estimate | auto
    max_enumerate: int = 100_000
    n_estimate: int = 5_000

    def __post_init__(self) -> None:
        ExposureConfig(method=self.method, max_enumerate=self.max_enumerate, n_estimate=self.n_estimate).validate()


@dataclass(frozen=True)
class UntargetedSection:
    """Untargeted extraction: sample, rank, check each sample against ``corpus`` (Carlini et al. 2021)."""

    enabled: bool = False
    corpus: str | None = None  # default: the lab's members
    n_samples: int = 100
    sample_len: int = 64
    top_k: int | None = 40
    top_p: float | None = None
    ngram: int = 50
    text_column: str = "text"
    id_column: str = "id"

    def __post_init__(self) -> None:
        UntargetedConfig(
            n_samples=self.n_samples, sample_len=self.sample_len, top_k=self.top_k, top_p=self.top_p, ngram=self.ngram
        ).validate()


def canaries_path(sections: object, lab: Path | None) -> str | None:
    """The canaries file: the exposure section's, else the lab's, else none."""
    given = sections.exposure.canaries  # type: ignore[attr-defined]
    return given or (str(lab / "canaries.jsonl") if lab is not None else None)


@dataclass(frozen=True)
class UntargetedData:
    """The corpus to check samples against, the settings, prompts to start from and a reference model."""

    corpus: TextSet | list[dict] | list[str]
    config: UntargetedConfig
    prompts: tuple[str, ...] | None = None  # default: start from BOS
    reference: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None  # the 'reference' ranking's model


class ExtractionFamily:
    """Family ``extraction``: records per prefix length and per repeat count, canaries as ``extraction_canaries``."""

    name = "extraction"
    section = "extraction"
    needs = frozenset({"generate", "texts"})
    samples = "extraction"
    figures = EXTRACTION_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        return extraction_tree(rows)

    def prepare(self, sections: object, lab: Path | None) -> ExtractionData:
        """The section's rows (every column kept: repeats, a row's own prefix and suffix) and the resolved config."""
        s: ExtractionConfig = sections.extraction  # type: ignore[attr-defined]
        path = lab_file(s.data, lab, "members.jsonl", "extraction.data")
        rows = read_data_rows(path, "extraction.data")[: s.limit]
        cpath = canaries_path(sections, lab) if s.canaries else None
        canaries = read_rows(cpath) if cpath else None
        return ExtractionData(rows, s.resolved(lab_texts=s.data is None), canaries, source=path)

    def check(self, data: ExtractionData, tokenizer: PreTrainedTokenizerBase) -> None:
        """Before the model loads (the tokenizer alone): some text is long enough, the canary rows are usable."""
        check_extraction(data, tokenizer)

    def run(self, ctx: FamilyContext, data: ExtractionData) -> list[Record]:
        size = data.config.batch_size if data.config.batch_size is not None else ctx.batch_size
        cfg = replace(data.config.resolved(), batch_size=size)
        _, recs = extraction_result(ctx.model, ctx.tokenizer, data.texts, ctx.samples("extraction"), cfg, ctx.tags)
        if data.canaries:
            ccfg = ExtractionConfig(prefix_column="prefix", suffix_column="secret", batch_size=size)
            _, more = extraction_result(
                ctx.model,
                ctx.tokenizer,
                data.canaries,
                ctx.samples("extraction_canaries"),
                ccfg,
                ctx.tags,
                name="extraction_canaries",
            )
            recs += more
        return recs


class ExposureFamily:
    """Family ``exposure``: each canary's rank among its candidate secrets, in bits."""

    name = "exposure"
    section = "exposure"
    needs = frozenset({"loglik", "canaries"})
    samples = "exposure"
    figures = EXPOSURE_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        return {"exposure": exposure_tree(rows)}

    def prepare(self, sections: object, lab: Path | None) -> tuple[list[dict], ExposureConfig]:
        s: ExposureSection = sections.exposure  # type: ignore[attr-defined]
        path = canaries_path(sections, lab)
        if path is None:
            raise ConfigError("exposure.canaries: give a canaries file (or lab: FOLDER to use the lab's)")
        return read_rows(path), ExposureConfig(method=s.method, max_enumerate=s.max_enumerate, n_estimate=s.n_estimate)

    def run(self, ctx: FamilyContext, data: tuple[list[dict], ExposureConfig]) -> list[Record]:
        rows, cfg = data
        cfg = replace(cfg, batch_size=ctx.batch_size, seed=ctx.seed)
        return exposure_result(ctx.model, ctx.tokenizer, rows, ctx.samples("exposure"), cfg, ctx.tags)[1]


class UntargetedFamily:
    """Family ``untargeted``: how many top-ranked samples are verbatim corpus text."""

    name = "untargeted"
    section = "untargeted"
    needs = frozenset({"generate", "corpus"})
    samples = "untargeted"
    figures = UNTARGETED_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        return {"untargeted": untargeted_tree(rows)}

    def prepare(self, sections: object, lab: Path | None) -> UntargetedData:
        s: UntargetedSection = sections.untargeted  # type: ignore[attr-defined]
        path = lab_file(s.corpus, lab, "members.jsonl", "untargeted.corpus")
        corpus = read_corpus(path, s.text_column, s.id_column)
        cfg = UntargetedConfig(
            n_samples=s.n_samples, sample_len=s.sample_len, top_k=s.top_k, top_p=s.top_p, ngram=s.ngram
        )
        return UntargetedData(corpus, cfg)

    def run(self, ctx: FamilyContext, data: UntargetedData) -> list[Record]:
        cfg = replace(data.config, batch_size=ctx.batch_size, seed=ctx.seed)
        ref_model, ref_tok = data.reference or (None, None)
        _, recs = untargeted_result(
            ctx.model,
            ctx.tokenizer,
            data.corpus,
            ctx.samples("untargeted"),
            cfg,
            ctx.tags,
            prompts=data.prompts,
            reference_model=ref_model,
            reference_tokenizer=ref_tok,
        )
        return recs
