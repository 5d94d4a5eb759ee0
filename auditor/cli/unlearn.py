"""``auditor unlearn``: run a built-in unlearning method on a checkpoint and save the result.

The saved folder is a Hugging Face checkpoint (safetensors + tokenizer) with ``unlearning.json`` beside it,
which ``load_model`` and ``auditor unlearn-compare`` (``unlearned: [{label, model: DIR}]``) take.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from auditor.cli.common import (
    add_command,
    add_data_columns,
    add_model_args,
    float_in,
    model_spec,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)
from auditor.config import build, load_config

if TYPE_CHECKING:
    from auditor.unlearning import UnlearnConfig

# Typed flags that map onto UnlearnConfig fields (flag -> (field, type, help)); --set reaches every field.
_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--lr": ("lr", positive_float, "AdamW learning rate (default 1e-4)"),
    "--epochs": ("epochs", positive_int, "passes over the forget set (default 5)"),
    "--steps": ("steps", positive_int, "exact number of optimizer steps (overrides --epochs)"),
    "--train-batch-size": ("batch_size", positive_int, "forget texts per optimizer step (default 8)"),
    "--seed": ("seed", nonneg_int, "seed of the batch order (default 0)"),
    "--beta": ("beta", positive_float, "NPO inverse temperature (default 0.1)"),
    "--retain-weight": ("retain_weight", nonneg_float, "weight of the retain NLL term (default 1.0)"),
    "--prune-fraction": (
        "prune_fraction",
        float_in(0.0, 1.0, open_low=True, open_high=True),
        "prune_unlearn: share of each layer's weights zeroed (default 0.01)",
    ),
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "unlearn",
        cmd_unlearn,
        help="unlearn a forget set from a checkpoint (gradient_ascent, gradient_difference, npo, prune_unlearn)",
        description="Run a built-in unlearning method on MODEL and save the unlearned checkpoint to OUT "
        "(safetensors + tokenizer + unlearning.json). Methods: gradient_ascent (Jang et al. 2023), "
        "gradient_difference (Liu et al. 2022), npo (Zhang et al. 2024; NPO+RT when --retain is given), "
        "prune_unlearn (zero the weights most important to the forget set relative to the retain set). "
        "Every UnlearnConfig key can be set with --set key=value or a --config YAML.",
    )
    p.add_argument("--model", required=True, help="checkpoint to unlearn from (folder, hub id, .gguf, lab)")
    p.add_argument("--method", required=True, help="gradient_ascent | gradient_difference | npo | prune_unlearn")
    p.add_argument("--forget", required=True, help="texts to forget (jsonl/csv/parquet/txt with id and text)")
    p.add_argument("--retain", help="texts to keep (needed by gradient_difference and prune_unlearn)")
    p.add_argument("--out", required=True, help="folder for the unlearned checkpoint (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an unlearned checkpoint memaudit wrote at --out")
    p.add_argument("--config", help="YAML file of UnlearnConfig keys")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    for flag, (_, tp, text) in _FLAGS.items():
        p.add_argument(flag, type=tp, help=text)
    add_data_columns(p)
    add_model_args(p)


def resolve_config(a: argparse.Namespace) -> UnlearnConfig:
    """The UnlearnConfig from --config, then --set, then the typed flags (later wins); every key validated."""
    from auditor.unlearning import UnlearnConfig

    base = load_config(UnlearnConfig, a.config, list(a.set))
    flags = {field: getattr(a, flag[2:].replace("-", "_")) for flag, (field, _, _) in _FLAGS.items()}
    return build(UnlearnConfig, {**asdict(base), **{k: v for k, v in flags.items() if v is not None}})


def cmd_unlearn(a: argparse.Namespace) -> int:
    from auditor.unlearning import unlearn_checkpoint

    config = resolve_config(a)
    info = unlearn_checkpoint(
        model_spec(a, a.model),
        a.method,
        a.forget,
        a.retain,
        a.out,
        config,
        text_column=a.text_column,
        id_column=a.id_column,
        overwrite=a.overwrite,
    )
    figs = info["figures"]
    if "final_losses" in figs:
        losses = ", ".join(f"{k} {figs['first_losses'][k]:.3f} -> {v:.3f}" for k, v in figs["final_losses"].items())
        print(f"{a.method}: {figs['steps']} steps in {figs['seconds']:.1f}s; {losses}")
    else:
        print(
            f"{a.method}: zeroed {figs['pruned_weights']} weights in {figs['layers']} layers in {figs['seconds']:.1f}s"
        )
    print(f"saved the unlearned checkpoint to {a.out} (details in {a.out}/unlearning.json)")
    return 0
