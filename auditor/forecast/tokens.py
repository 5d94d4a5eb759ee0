"""The examples as token ids, and the check that every model of a forecast sees the same ones.

Biderman et al. 2023 compare the memorized sets of checkpoints of one training run (one tokenizer): an
example is "the same" for the early and the final model only if both see the same token ids. So before
any model loads, every model's tokenizer (loaded alone: cheap) tokenizes the data, and a model whose token
ids differ from the final model's on any example is refused with one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError, ModelLoadError
from auditor.forecast.config import ForecastConfig
from auditor.forecast.entries import ModelEntry
from auditor.forecast.kinds import Tokenized, tokenize_all
from auditor.models.load import ModelSpec, resolve_source

log = logging.getLogger(__name__)

Groups = dict[str, tuple[list[dict], list[str]]]


def load_tokenizer(spec: ModelSpec) -> PreTrainedTokenizerBase:
    """The tokenizer of ``spec`` alone (no weights), as :func:`auditor.models.load.load_model` would load it."""
    r = resolve_source(spec)
    kwargs: dict = {"trust_remote_code": spec.trust_remote_code}
    if r.hub:
        kwargs["revision"] = spec.revision
    if r.gguf_file:
        kwargs["gguf_file"] = r.gguf_file
    try:
        return AutoTokenizer.from_pretrained(r.path, **kwargs)
    except (OSError, ValueError) as e:
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelLoadError(f"cannot load the tokenizer of {spec.source!r}: {line}") from e


def warn_short(tokenized: dict[str, Tokenized], cfg: ForecastConfig) -> None:
    """One warning with the count of texts too short to cut; InputError when nothing is left to score."""
    short = sum(t.skipped for t in tokenized.values())
    kept = sum(len(t.items) for t in tokenized.values())
    need = cfg.prefix_len + cfg.suffix_len
    if not kept:
        raise InputError(
            f"all {short} texts are too short: prefix_len + suffix_len = {cfg.prefix_len} + "
            f"{cfg.suffix_len} = {need} tokens are needed; lower --prefix-len / --suffix-len"
        )
    if short:
        log.warning(
            "%d of %d texts have fewer than prefix_len + suffix_len = %d tokens and are skipped",
            short,
            short + sum(len(t.rows) for t in tokenized.values() if t.kind == "text"),
            need,
        )


def common_tokens(
    entries: Sequence[ModelEntry], spec_of: Callable[[str], ModelSpec], groups: Groups, cfg: ForecastConfig
) -> dict[str, Tokenized]:
    """The examples tokenized by the final model's tokenizer, after checking every early model's agrees."""
    final = next(e for e in entries if e.role == "final")
    base = tokenize_all(load_tokenizer(spec_of(final.source)), groups, cfg)
    done = {final.source}
    for e in entries:
        if e.source in done:
            continue
        done.add(e.source)
        other = tokenize_all(load_tokenizer(spec_of(e.source)), groups, cfg)
        for kind, t in base.items():
            where = t.same_tokens(other[kind])
            if where is not None:
                raise ConfigError(
                    f"{e.source} tokenizes the data differently from the final model {final.source} (first at "
                    f"example {where!r}); a forecast compares the same token sequences, so give models with the "
                    "same tokenizer (checkpoints of one run, or smaller models of the same family)"
                )
    warn_short(base, cfg)
    return base
