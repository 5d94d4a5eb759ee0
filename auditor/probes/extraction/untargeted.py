"""Untargeted extraction (Carlini et al. 2021, "Extracting training data from large language models",
USENIX Security, arXiv:2012.07805): sample many generations, rank them by how likely they are to be
memorized, and check the top-ranked ones against the training corpus.

* Sampling: ``n_samples`` generations of exactly ``sample_len`` tokens, top-k (default 40, the paper's)
  and/or top-p, seeded per sample (``sampling.Sampler``), batched with a KV cache, from the BOS token
  (or EOS where there is no BOS, as the paper did with GPT-2's ``<|endoftext|>``) or from prompts
  (sample i uses prompt i mod #prompts).
* Rankings (each: higher = more suspicious), from the paper's released code:
  ``perplexity``: -log perplexity of the sampled tokens under the target (from the sampling pass);
  ``zlib``: zlib-compressed bytes of the sample's text / log perplexity;
  ``reference``: reference-model log perplexity of the text / target log perplexity (optional model).
* Verbatim check: the sample's text is re-tokenized (canonical tokens) and looked up in a hashed
  n-gram index of the corpus (``ngrams.NgramIndex``; default n = 50 tokens). We report how many of
  the top 10 / top 100 of each ranking are verbatim corpus text.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import AuditorError, ConfigError, InputError
from auditor.inputs.data import TextSet, load_texts
from auditor.lm.decoding import decode
from auditor.lm.scoring import token_logprobs
from auditor.probes.extraction.config import UntargetedConfig
from auditor.probes.extraction.items import as_rows, check_context, require_columns, row_ids
from auditor.probes.extraction.ngrams import NgramIndex
from auditor.probes.extraction.runner import digest
from auditor.probes.extraction.sampling import Sampler
from auditor.probes.units import Unit, run_units
from auditor.stats.intervals import proportion_ci
from auditor.store.runs import Record, SampleLog

log = logging.getLogger(__name__)

RANKINGS = ("perplexity", "zlib", "reference")


def read_corpus(path: str | Path, text_column: str = "text", id_column: str = "id") -> TextSet:
    """``load_texts`` with any read failure turned into an InputError that names the file."""
    try:
        return load_texts(path, text_column=text_column, id_column=id_column)
    except InputError as e:
        if isinstance(e.__cause__, UnicodeDecodeError):  # the loader's "FILE:LINE: not UTF-8 ..." line
            raise InputError(f"cannot read corpus {e}") from e
        raise
    except AuditorError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(
            f"cannot read corpus {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "give a readable JSONL, CSV, Parquet or TXT file (UTF-8) or a dataset saved with save_to_disk"
        ) from e


def corpus_index(
    tokenizer: PreTrainedTokenizerBase, corpus: TextSet | Sequence[dict] | Sequence[str], config: UntargetedConfig
) -> NgramIndex:
    """The hashed n-gram index of the corpus's texts (tokenized without special tokens)."""
    rows = as_rows(corpus, "corpus")
    require_columns(rows, (config.text_column,), "corpus", "name the corpus text column (--text-column)")
    ids = row_ids(rows, config.id_column)
    toks = tokenizer([r[config.text_column] for r in rows], add_special_tokens=False)["input_ids"]
    index = NgramIndex.build(toks, config.ngram, ids)
    if len(index) == 0:
        longest = max(len(t) for t in toks)
        raise InputError(
            f"no corpus text has {config.ngram} tokens (the longest has {longest}), so nothing could be found "
            "verbatim; lower --ngram"
        )
    return index


def start_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str] | None) -> list[list[int]]:
    """Token ids to start each generation from: BOS (else EOS), or each prompt with special tokens."""
    if prompts:
        ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
        if any(not x for x in ids):
            raise InputError("a prompt tokenizes to nothing; remove empty prompts")
        return ids
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if start is None:
        raise ConfigError("the tokenizer has neither a BOS nor an EOS token to start sampling from; give prompts")
    return [[start]]


def _reference_log_ppl(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[float]:
    seqs = tokenizer(texts, add_special_tokens=True)["input_ids"]
    ok = [i for i, s in enumerate(seqs) if len(s) >= 2]
    out = [math.nan] * len(texts)
    if ok:
        lps = token_logprobs(model, [seqs[i] for i in ok], tokenizer.pad_token_id)
        for i, lp in zip(ok, lps, strict=True):
            out[i] = float(-lp.mean())
    return out


def sample_unit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    indices: list[int],
    prompt_ids: list[list[int]],
    index: NgramIndex,
    config: UntargetedConfig,
    reference: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None,
) -> list[dict]:
    """Generate the samples numbered ``indices`` and score each (rankings' statistics, verbatim check)."""
    sampler = Sampler(config.top_k, config.top_p, config.temperature, config.seed, indices=tuple(indices))
    prompts = [prompt_ids[g % len(prompt_ids)] for g in indices]
    dec = decode(
        model,
        prompts,
        config.sample_len,
        pad_id=tokenizer.pad_token_id,
        batch_size=config.batch_size,
        choose=sampler,
        want_logprobs=True,
    )
    texts = [tokenizer.decode(t, skip_special_tokens=True) for t in dec.tokens]
    ref = _reference_log_ppl(*reference, texts) if reference else None
    rows = []
    for j, (text, lps) in enumerate(zip(texts, dec.logprobs or [], strict=True)):
        log_ppl = -float(np.mean(lps))
        zbytes = len(zlib.compress(text.encode("utf-8")))
        hit = index.lookup(tokenizer(text, add_special_tokens=False)["input_ids"])
        row = {
            "id": f"sample-{indices[j]:06d}",
            "prompt_index": indices[j] % len(prompt_ids),
            "text": text,
            "log_perplexity": log_ppl,
            "perplexity": math.exp(log_ppl),
            "zlib_bytes": zbytes,
            "verbatim": hit.verbatim,
            "ngram_hits": hit.hits,
            "ngram_windows": hit.windows,
            "corpus_id": hit.doc,
        }
        if ref is not None:
            row["reference_log_perplexity"] = ref[j]
        rows.append(row)
    return rows


def ranking_scores(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per ranking, one score per sample (higher = more likely memorized); ``reference`` only if computed."""
    lp = np.array([max(r["log_perplexity"], 1e-6) for r in rows])
    out = {"perplexity": -lp, "zlib": np.array([r["zlib_bytes"] for r in rows]) / lp}
    if rows and all("reference_log_perplexity" in r for r in rows):
        ref = np.array([r["reference_log_perplexity"] for r in rows], dtype=np.float64)
        out["reference"] = np.nan_to_num(ref / lp, nan=-np.inf)
    return out


def summarize_untargeted(rows: list[dict], config: UntargetedConfig) -> dict:
    verb = np.array([bool(r["verbatim"]) for r in rows])
    n = len(rows)
    result: dict = {
        "n_samples": n,
        "ngram": config.ngram,
        "sample_len": config.sample_len,
        "verbatim": int(verb.sum()),
        "verbatim_rate": float(verb.mean()) if n else None,
        "verbatim_rate_ci": list(proportion_ci(int(verb.sum()), n)),
        "by_ranking": {},
    }
    for name, score in ranking_scores(rows).items():
        order = np.argsort(-score, kind="stable")
        entry: dict = {"top_ids": [rows[i]["id"] for i in order[: max(config.top_ns)]]}
        for k in config.top_ns:
            top = order[:k]
            entry[f"top{k}"] = int(verb[top].sum())
            entry[f"top{k}_n"] = int(top.size)
        result["by_ranking"][name] = entry
    return result


def untargeted_result(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    corpus: TextSet | Sequence[dict] | Sequence[str],
    samples: SampleLog,
    config: UntargetedConfig | None = None,
    record_tags: dict | None = None,
    *,
    prompts: Sequence[str] | None = None,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
    name: str = "untargeted",
) -> tuple[dict, list[Record]]:
    """Sample, rank and check against ``corpus`` (rows in resumable units of ``samples``); aggregates, records."""
    config = config or UntargetedConfig()
    config.validate()
    index = corpus_index(tokenizer, corpus, config)
    prompt_ids = start_prompts(tokenizer, prompts)
    check_context(model, max(len(p) for p in prompt_ids) + config.sample_len, "a prompt plus sample_len")
    reference = (reference_model, reference_tokenizer or tokenizer) if reference_model is not None else None
    tags = dict(record_tags or {})
    scope = digest({"tags": tags, "config": asdict(config), "prompts": list(prompts or []), "ref": bool(reference)})
    size = config.unit_size
    units = [
        Unit(f"{name}-{scope}-{start}", list(range(start, min(start + size, config.n_samples))))
        for start in range(0, config.n_samples, size)
    ]

    def score(part: list[int]) -> list[dict]:
        return sample_unit(model, tokenizer, part, prompt_ids, index, config, reference)

    run_units(
        samples, units, score, desc=f"untargeted sampling ({name})", unit="sample", extra={"scope": scope}, logger=log
    )
    mine = sorted((r for r in samples.rows() if r.get("scope") == scope), key=lambda r: r["id"])
    result = summarize_untargeted(mine, config)
    return result, untargeted_records(result, config, name, tags)


def untargeted_records(result: dict, config: UntargetedConfig, name: str, tags: dict) -> list[Record]:
    """Task NAME: ``verbatim_rate`` over every sample; task ``NAME@<ranking>``: ``verbatim@topK`` per ranking."""
    extra = {"ngram": config.ngram}
    rate, ci = result["verbatim_rate"], tuple(result["verbatim_rate_ci"])
    recs = [Record("untargeted", name, "verbatim_rate", rate, n=result["n_samples"], ci=ci, extra=dict(extra), **tags)]
    for rank_name, entry in result["by_ranking"].items():
        for k in config.top_ns:
            m, hits = entry[f"top{k}_n"], entry[f"top{k}"]
            value = hits / m if m else None
            task, metric = f"{name}@{rank_name}", f"verbatim@top{k}"
            ci = proportion_ci(hits, m)
            recs.append(Record("untargeted", task, metric, value, n=m, ci=ci, extra=dict(extra), **tags))
    return recs
