"""The probes as library functions on an already-loaded model: each is a one-point plan of the one loop.

``run_mia``, ``run_extraction``, ``run_exposure`` and ``run_untargeted`` take a ``PreTrainedModel``, its tokenizer,
plain data and a :class:`~auditor.store.runs.RunDir`; they build the family's data and call
:func:`auditor.pipeline.probe.run_probe`, so their records, samples, resume and ``NAME.json`` are those of the
CLI commands (and of a sweep's dense point). ``checkpoint`` labels the records, so several checkpoints can share
one run directory. :mod:`auditor.api` builds on these.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.inputs.data import TextSet
from auditor.models.load import LoadedModel, weights_fingerprint
from auditor.pipeline.probe import run_probe
from auditor.probes.extraction.config import ExposureConfig, ExtractionConfig, UntargetedConfig
from auditor.probes.extraction.family import ExtractionData, UntargetedData
from auditor.probes.extraction.items import as_rows
from auditor.probes.mia.blind import blind_scores
from auditor.probes.mia.config import MIAConfig
from auditor.probes.mia.family import MIAData
from auditor.store.runs import RunDir


def loaded(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "model", *, fingerprint: bool = True
) -> LoadedModel:
    """A model already in memory as the loop's ``LoadedModel`` (eval mode, pad token set), labelled ``name``;
    ``fingerprint``: hash its weights for the run identity (the library calls skip it: the caller's run has one)."""
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    path = str(getattr(model, "name_or_path", "") or name)
    return LoadedModel(
        model, tokenizer, source=name, resolved=path, fingerprint=weights_fingerprint(model) if fingerprint else ""
    )


def _pair(
    model: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase | None, default: PreTrainedTokenizerBase
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase] | None:
    return (model, tokenizer or default) if model is not None else None


def run_mia(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: TextSet,
    nonmembers: TextSet,
    run: RunDir,
    config: MIAConfig | None = None,
    *,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
    blind: bool = False,
    checkpoint: str = "model",
) -> dict:
    """Membership inference of ``members`` vs ``nonmembers``; returns ``mia.json`` (``{attack: {auc, ...}}``).

    ``blind``: also the model-free blind baseline (:mod:`auditor.probes.mia.blind`) beside the attacks (its
    threshold: ``config.blind_threshold``). The ROC
    figure is drawn by the caller that wants one (``auditor mia``, the report)."""
    config = config or MIAConfig()
    scores = blind_scores(members.texts, nonmembers.texts, seed=config.seed) if blind else None
    ref = _pair(reference_model, reference_tokenizer, tokenizer)
    data = MIAData(members, nonmembers, config, scores, ref)
    lm = loaded(model, tokenizer, checkpoint, fingerprint=False)
    return run_probe(lm, run, "mia", data, batch_size=config.batch_size, seed=config.seed)


def run_extraction(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: TextSet | Sequence[dict] | Sequence[str],
    run: RunDir,
    config: ExtractionConfig | None = None,
    *,
    checkpoint: str = "model",
) -> dict:
    """Discoverable extraction of ``texts`` (strings, rows, or rows with their own prefix and suffix columns);
    returns ``extraction.json``. Lengths the config leaves unset are the user defaults (32 and 32)."""
    config = (config or ExtractionConfig()).resolved()
    rows = texts if isinstance(texts, TextSet) else as_rows(texts)
    lm = loaded(model, tokenizer, checkpoint, fingerprint=False)
    return run_probe(lm, run, "extraction", ExtractionData(rows, config), batch_size=config.batch_size)


def run_exposure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    canaries: TextSet | Sequence[dict],
    run: RunDir,
    config: ExposureConfig | None = None,
    *,
    checkpoint: str = "model",
) -> dict:
    """Exposure of every canary (rows with a prefix, a secret and optional repeats); returns ``exposure.json``."""
    config = config or ExposureConfig()
    rows = as_rows(canaries, "canaries")
    lm = loaded(model, tokenizer, checkpoint, fingerprint=False)
    return run_probe(lm, run, "exposure", (rows, config), batch_size=config.batch_size, seed=config.seed)


def run_untargeted(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    corpus: TextSet | Sequence[dict] | Sequence[str],
    run: RunDir,
    config: UntargetedConfig | None = None,
    *,
    prompts: Sequence[str] | None = None,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
    checkpoint: str = "model",
) -> dict:
    """Untargeted extraction: sample, rank and check against ``corpus``; returns ``untargeted.json``."""
    config = config or UntargetedConfig()
    ref = _pair(reference_model, reference_tokenizer, tokenizer)
    data = UntargetedData(corpus, config, tuple(prompts) if prompts else None, ref)
    lm = loaded(model, tokenizer, checkpoint, fingerprint=False)
    return run_probe(lm, run, "untargeted", data, batch_size=config.batch_size, seed=config.seed)
