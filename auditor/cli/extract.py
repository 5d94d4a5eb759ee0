"""``auditor extract`` (prefix extraction), ``exposure`` (canary exposure), ``generate-extract`` (untargeted)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_data_columns,
    add_model_args,
    fraction,
    int_at_least,
    model_spec,
    nonneg_int,
    open_run,
    positive_float,
    positive_int,
    unit_fraction,
)
from auditor.cli.extract_flags import exposure_config, extraction_config, read_data_rows, untargeted_config
from auditor.store.runs import RunDir

if TYPE_CHECKING:
    from auditor.models.load import LoadedModel


def _open_run(a: argparse.Namespace, command: str, config: dict, **manifest: object) -> RunDir:
    """The run directory, checked against its inputs before any model loads."""
    models = {"model": a.model, "reference": getattr(a, "reference_model", None)}
    return open_run(a, {"command": command, "model": a.model, **config}, models, **manifest)


def _loaded(run: RunDir, lm: LoadedModel) -> None:
    run.update_manifest(checkpoint=lm.describe())


def cmd_extract(a: argparse.Namespace) -> int:
    """Discoverable extraction at one point through the one loop; print the table per prefix length."""
    from auditor.models.load import load_model, load_tokenizer
    from auditor.pipeline.probe import run_probe
    from auditor.probes.extraction.family import ExtractionData, ExtractionFamily
    from auditor.report.summary import write_summary

    given = extraction_config(a)
    rows = read_data_rows(str(given.data), "data file")[: given.limit]
    data = ExtractionData(rows, given.resolved(), source=str(given.data), flags=True)
    ExtractionFamily().check(data, load_tokenizer(model_spec(a, a.model)))  # the audit's check, before loading
    cfg = data.config
    run = _open_run(a, "extract", {"data": a.data, "limit": a.limit, "extraction": asdict(cfg)})
    lm = load_model(model_spec(a, a.model))
    _loaded(run, lm)
    res = run_probe(lm, run, "extraction", data, batch_size=cfg.batch_size)
    _print_extraction(res)
    write_summary(run.path, command="extract")
    print(f"wrote {Path(run.path) / 'extraction.json'}")
    return 0


def _print_extraction(res: dict) -> None:
    print(f"texts: {res['n_texts']}  scored: {res['n']}  skipped (too short): {res['skipped_short']}")
    table = res.get("by_prefix_len") or {"-": res}
    print(f"{'prefix_len':>10} {'n':>6} {'exact':>7} {'approx':>7} {'tok_match':>9} {'similarity':>10} {'bleu':>6}")
    for k, r in table.items():
        if not r["n"]:
            print(f"{k:>10} {0:>6}  (every text too short)")
            continue
        print(
            f"{k:>10} {r['n']:>6} {r['exact_extraction_rate']:7.3f} {r['approx_extraction_rate']:7.3f} "
            f"{r['token_match']:9.3f} {r['similarity']:10.3f} {r['bleu']:6.3f}"
        )
    for reps, r in res.get("by_repeats", {}).items():
        print(f"  repeats {reps:>5}: exact {r['exact_extraction_rate']:.3f} (n={r['n']})")


def cmd_exposure(a: argparse.Namespace) -> int:
    """Canary exposure at one point through the one loop; print the mean and max, per repeat count."""
    from auditor.models.load import load_model
    from auditor.pipeline.probe import run_probe
    from auditor.probes.extraction.items import require_columns
    from auditor.report.summary import write_summary

    cfg = exposure_config(a)
    rows = read_data_rows(a.canaries, "canary file")[: a.limit]
    hint = "each canary needs its prefix and its secret (name them with --prefix-column / --secret-column)"
    require_columns(rows, (cfg.prefix_column, cfg.secret_column), a.canaries, hint)
    config = {"canaries": a.canaries, "limit": a.limit, "exposure": asdict(cfg)}
    run = _open_run(a, "exposure", config, seeds={"exposure": a.seed})
    lm = load_model(model_spec(a, a.model))
    _loaded(run, lm)
    res = run_probe(lm, run, "exposure", (rows, cfg), batch_size=cfg.batch_size, seed=cfg.seed)
    top = res["max_possible"]
    print(f"canaries: {res['n']}  exposure mean {res['mean']:.2f}  max {res['max']:.2f}  (of {top:.2f})")
    for reps, r in res.get("by_repeats", {}).items():
        print(f"  repeats {reps:>5}: mean exposure {r['mean']:6.2f}  max {r['max']:6.2f}  (n={r['n']})")
    write_summary(run.path, command="exposure")
    print(f"wrote {Path(run.path) / 'exposure.json'}")
    return 0


def cmd_generate_extract(a: argparse.Namespace) -> int:
    """Untargeted extraction at one point through the one loop; print the verbatim counts per ranking."""
    from auditor.models.load import load_model
    from auditor.pipeline.probe import run_probe
    from auditor.probes.extraction.family import UntargetedData
    from auditor.report.summary import write_summary

    cfg = untargeted_config(a)
    corpus = read_data_rows(a.corpus, "corpus")
    prompts = [r.get(a.text_column, "") for r in read_data_rows(a.prompts, "prompt file")] if a.prompts else None
    config = {"corpus": a.corpus, "prompts": a.prompts, "reference_model": a.reference_model, "untargeted": asdict(cfg)}
    run = _open_run(a, "generate-extract", config, seeds={"sampling": a.seed})
    lm = load_model(model_spec(a, a.model))
    ref = load_model(model_spec(a, a.reference_model)) if a.reference_model else None
    _loaded(run, lm)
    pair = (ref.model, ref.tokenizer) if ref else None
    data = UntargetedData(corpus, cfg, tuple(prompts) if prompts else None, pair)
    res = run_probe(lm, run, "untargeted", data, batch_size=cfg.batch_size, seed=cfg.seed)
    print(f"samples: {res['n_samples']}  verbatim ({cfg.ngram}-gram in corpus): {res['verbatim']}")
    for name, r in res["by_ranking"].items():
        tops = "  ".join(f"top{k}: {r[f'top{k}']}/{r[f'top{k}_n']}" for k in cfg.top_ns)
        print(f"  ranked by {name:<10} {tops}")
    write_summary(run.path, command="generate-extract")
    print(f"wrote {Path(run.path) / 'untargeted.json'}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    add_batch_size(p, what="sequences per batch")
    p.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    p.add_argument("--overwrite", action="store_true", help="start the run directory again")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_extract(sub)
    _add_exposure(sub)
    _add_generate_extract(sub)


def _add_extract(sub: argparse._SubParsersAction) -> None:
    ex = add_command(
        sub,
        "extract",
        cmd_extract,
        help="discoverable extraction: greedy-decode from training texts' prefixes, compare with the suffix",
        description="Greedy decoding (batched, KV cache) from each text's first --prefix-len tokens (after BOS); "
        "exact match (Carlini et al. 2023), fraction of tokens matched (Biderman et al. 2023), edit similarity "
        "and BLEU (Ippolito et al. 2022). With --prefix-column/--suffix-column each row carries its own prefix "
        "and suffix (e.g. the lab's canaries: prefix, secret). Writes RUN/extraction.json, "
        "RUN/samples/extraction.jsonl, RUN/records.jsonl. Rerunning the same command resumes.",
    )
    _common(ex)
    ex.add_argument("--data", required=True, help="texts (jsonl/csv/parquet/txt/HF dir)")
    ex.add_argument("--prefix-len", type=positive_int, help="prefix tokens, BOS not counted (default 32)")
    ex.add_argument("--suffix-len", type=positive_int, help="target suffix tokens (default 32)")
    ex.add_argument("--prefix-lens", help="prefix-length sweep, e.g. 8,16,32,64 (overrides --prefix-len)")
    ex.add_argument("--approx-threshold", type=fraction, default=0.75, help="approximate memorization threshold")
    ex.add_argument(
        "--approx-metric", choices=("similarity", "bleu"), default="similarity", help="metric of the threshold"
    )
    add_data_columns(ex)
    ex.add_argument("--repeats-column", default="repeats", help="duplication count column, if any ('' = none)")
    ex.add_argument("--prefix-column", help="column mode: the prefix column (e.g. prefix)")
    ex.add_argument("--suffix-column", help="column mode: the suffix column (e.g. secret)")
    ex.add_argument("--no-text", action="store_true", help="do not write generated/true suffix text to the samples")
    add_model_args(ex)
    ex.add_argument("--limit", type=positive_int, help="only the first N rows of --data (default: all)")


def _add_exposure(sub: argparse._SubParsersAction) -> None:
    xp = add_command(
        sub,
        "exposure",
        cmd_exposure,
        help="canary exposure (Carlini et al. 2019): rank of each secret among its candidate space",
        description="exposure = log2 |space| - log2 rank(secret); exact rank when the space has at most "
        "--max-enumerate candidates, else the skew-normal estimate. Writes RUN/exposure.json, "
        "RUN/samples/exposure.jsonl, RUN/records.jsonl.",
    )
    _common(xp)
    xp.add_argument("--canaries", required=True, help="rows with a prefix and a secret (jsonl/csv/...)")
    xp.add_argument("--prefix-column", default="prefix", help="column holding each canary's prefix")
    xp.add_argument("--secret-column", default="secret", help="column holding each canary's secret")
    add_data_columns(xp, text=False)
    xp.add_argument("--repeats-column", default="repeats", help="duplication count column ('' = none)")
    xp.add_argument(
        "--candidates",
        help="file of candidate secrets (a 'text' column / one per line); default: every digit string of the "
        "secret's shape",
    )
    xp.add_argument(
        "--method", choices=("auto", "exact", "estimate"), default="auto", help="exact rank, estimate, or auto"
    )
    xp.add_argument(
        "--max-enumerate", type=positive_int, default=100_000, help="auto: exact up to this many candidates"
    )
    xp.add_argument("--n-estimate", type=int_at_least(10), default=5_000, help="candidates sampled for the estimate")
    xp.add_argument("--seed", type=nonneg_int, default=0, help="seed of the estimate's sample")
    add_model_args(xp)
    xp.add_argument("--limit", type=positive_int, help="only the first N canaries (default: all)")


def _add_generate_extract(sub: argparse._SubParsersAction) -> None:
    ge = add_command(
        sub,
        "generate-extract",
        cmd_generate_extract,
        help="untargeted extraction (Carlini et al. 2021): sample, rank, check against the corpus",
        description="Samples --samples generations (top-k/top-p, seeded), ranks them by perplexity, zlib ratio "
        "and (with --reference-model) reference ratio, and counts verbatim corpus text (any --ngram-token "
        "window in the corpus) among the top 10 / 100 of each ranking. Writes RUN/untargeted.json, "
        "RUN/samples/untargeted.jsonl, RUN/records.jsonl.",
    )
    _common(ge)
    ge.add_argument("--corpus", required=True, help="the training corpus to check against")
    ge.add_argument("--samples", type=positive_int, default=100, help="number of generations")
    ge.add_argument("--sample-len", type=positive_int, default=64, help="tokens per generation")
    ge.add_argument("--top-k", type=nonneg_int, default=40, help="top-k sampling (0 = off)")
    ge.add_argument("--top-p", type=unit_fraction, help="nucleus sampling threshold (default: off)")
    ge.add_argument("--temperature", type=positive_float, default=1.0, help="sampling temperature")
    ge.add_argument("--ngram", type=positive_int, default=50, help="verbatim window in tokens")
    ge.add_argument("--prompts", help="file of prompts to start from (default: BOS)")
    ge.add_argument("--reference-model", help="reference model for the reference ranking")
    add_data_columns(ge)
    ge.add_argument("--seed", type=nonneg_int, default=0, help="seed of the sampling")
    add_model_args(ge)
