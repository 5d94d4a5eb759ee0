"""``auditor forecast``: predict from early checkpoints (or smaller models) which examples the final model
memorizes (Biderman et al. 2023), and how well each early statistic forecasts it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_data_columns,
    add_model_args,
    batch_size_arg,
    csv_type,
    model_spec,
    nonneg_int,
    open_run,
    positive_int,
)
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import read_rows
from auditor.inputs.overlap import same_file


def _read_data(paths: list[str], limit: int | None) -> list[dict]:
    """The rows of every --data file, in order, then the first ``limit``; an empty file, or one given twice, is
    refused."""
    rows: list[dict] = []
    for n, path in enumerate(paths):
        twice = next((p for p in paths[:n] if same_file(p, path)), None)
        if twice is not None:
            raise InputError(f"--data {path} is given twice (also as --data {twice}); give each file once")
        part = read_rows(path)
        if not part:
            raise InputError(f"data file {path} is empty; give a file with at least one row")
        rows.extend(part)
    return rows[:limit]


def check_models(early: list[str], final: str, folder_of: Callable[[str], Path | None]) -> None:
    """Each --early model differs from --final and from the other --early ones: not the same source, nor the same
    folder once resolved (a model forecasting itself, or counted twice, says nothing)."""

    def where(src: str) -> str:
        folder = folder_of(src)
        return str(folder.resolve()) if folder is not None else src

    final_at, seen = where(final), {}
    for src in early:
        at = where(src)
        if at == final_at:
            same = "" if src == final else f" (both are {at})"
            raise ConfigError(
                f"--early {src} is the --final model {final}{same}; give an earlier checkpoint or a smaller model"
            )
        if at in seen:
            raise ConfigError(f"--early {src} is given twice (also as --early {seen[at]}); give each model once")
        seen[at] = src


def cmd_forecast(a: argparse.Namespace) -> int:
    from auditor.forecast.config import ForecastConfig
    from auditor.forecast.entries import model_entries, model_folder
    from auditor.forecast.kinds import group_rows
    from auditor.forecast.render import text_table
    from auditor.forecast.runner import EXAMPLES, OUTPUTS, run_forecast
    from auditor.forecast.tokens import common_tokens

    cfg = ForecastConfig(
        prefix_len=a.prefix_len,
        suffix_len=a.suffix_len,
        batch_size=batch_size_arg(a.batch_size),
        text_column=a.text_column,
        id_column=a.id_column,
        prefix_column=a.prefix_column,
        secret_column=a.secret_column,
        repeats_column=a.repeats_column or None,
        exposure=not a.no_exposure,
        n_boot=a.n_boot,
        seed=a.seed,
    )
    cfg.validate()
    entries = model_entries(a.early or [], a.final, a.fractions, lambda s: model_folder(model_spec(a, s)))
    groups = group_rows(_read_data(a.data, a.limit), cfg, source=", ".join(a.data))
    tokenized = common_tokens(entries, lambda s: model_spec(a, s), groups, cfg)  # before any model loads
    check_models(a.early or [], a.final, lambda s: model_folder(model_spec(a, s)))  # the flags and data first
    config = {
        "command": "forecast",
        "early": a.early,
        "final": a.final,
        "data": a.data,
        "fractions": a.fractions,
        "limit": a.limit,
        "forecast": asdict(cfg),
    }
    models = {f"early.{i}": s for i, s in enumerate(a.early or [])} | {"final": a.final}
    run = open_run(a, config, models, forecast_models=[asdict(e) for e in entries])
    result = run_forecast(run, entries, lambda s: model_spec(a, s), tokenized, cfg)
    print(text_table(result))
    print(f"wrote {Path(run.path) / OUTPUTS[0]} (and {', '.join(OUTPUTS[1:])}, {EXAMPLES})")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "forecast",
        cmd_forecast,
        help="forecast from early checkpoints / smaller models which examples the final model memorizes",
        description="Each model greedy-decodes every example's suffix after its prefix (Biderman et al. 2023: "
        "memorization score = fraction of suffix tokens reproduced; memorized = all of them) and scores its "
        "NLL and LM-EL2N (Paul et al. 2021); canaries (prefix, secret) add exposure. The early models' "
        "memorized sets forecast the final model's: precision, recall, and the AUC [95% CI] of each early "
        "statistic. A model's fraction of training seen comes from checkpoint.json in its folder, else "
        "--fractions. Every model needs the same tokenizer. Writes OUT/examples.jsonl, forecast.json, "
        "forecast.md, forecast.png; rerunning the same command resumes after the last model scored.",
    )
    p.add_argument(
        "--early",
        action="append",
        metavar="MODEL",
        help="an early checkpoint or a smaller model of the same family (repeat)",
    )
    p.add_argument("--final", required=True, metavar="MODEL", help="the final model whose memorization is forecast")
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="FILE",
        help="examples: rows with a text, or canaries with a prefix and a secret (repeat)",
    )
    p.add_argument("--prefix-len", type=positive_int, default=32, help="prompt tokens of a text, BOS not counted")
    p.add_argument("--suffix-len", type=positive_int, default=32, help="suffix tokens to reproduce")
    p.add_argument(
        "--fractions",
        type=csv_type(float),
        metavar="F1,F2,...",
        help="fraction of training seen by each --early model, in order, each in (0, 1] "
        "(default: its checkpoint.json, else unknown)",
    )
    p.add_argument("--out", default="reports/forecast", help="run directory (resumed if it exists)")
    p.add_argument("--overwrite", action="store_true", help="start the run directory again")
    add_batch_size(p, what="sequences per batch")
    add_data_columns(p)
    p.add_argument("--prefix-column", default="prefix", help="canaries: the column holding the prefix")
    p.add_argument("--secret-column", default="secret", help="canaries: the column holding the secret")
    p.add_argument("--repeats-column", default="repeats", help="duplication count column, if any ('' = none)")
    p.add_argument("--no-exposure", action="store_true", help="skip the canaries' exposure (the slow part)")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples of each AUC's CI")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the bootstrap and the exposure estimate")
    add_model_args(p)
    p.add_argument("--limit", type=positive_int, help="only the first N rows of --data (default: all)")
