"""``auditor lab build`` (the synthetic memorization lab) and ``auditor info`` (what a checkpoint is)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.common import add_command, add_model_args, model_spec, nonneg_int, positive_int
from auditor.errors import ConfigError

if TYPE_CHECKING:
    from auditor.lab.checkpoints import CheckpointSpec


def cmd_lab_build(a: argparse.Namespace) -> int:
    from auditor.lab.build import SHIPPED_DIR, build_lab, materialize_standard
    from auditor.lab.checkpoints import CheckpointSpec, parse_fractions
    from auditor.lab.presets import PRESETS, get_preset
    from auditor.lab.smollm2 import PRESETS as REAL_PRESETS

    ckpt = CheckpointSpec(parse_fractions(a.checkpoints))
    if a.preset in REAL_PRESETS:
        return _build_smollm2(a, ckpt)
    if a.preset not in PRESETS:
        raise ConfigError(f"unknown lab preset {a.preset!r}; choose one of: {', '.join([*PRESETS, *REAL_PRESETS])}")
    if a.device:
        raise ConfigError("--device applies to the smollm2 presets; the synthetic lab trains on the CPU")
    get_preset(a.preset)
    if a.without_forget:
        if ckpt.fractions:
            raise ConfigError("--checkpoints is not available with --without-forget for the synthetic lab; drop it")
        return _build_retrain(a)
    if a.preset == "standard" and not a.retrain:
        if ckpt.fractions:
            raise ConfigError("--checkpoints needs training: add --retrain to train the standard lab (15-45 minutes)")
        if a.seed != 0:
            raise ConfigError(
                f"the shipped standard lab has seed 0; pass --retrain to train seed {a.seed} (about 15-45 minutes)"
            )
        out = Path(a.out or "lab-standard-seed0")
        info = materialize_standard(out, overwrite=a.overwrite)
        print(f"materialized the shipped standard lab in {out} (hashes checked)")
    else:
        if a.out:
            out = Path(a.out)
        elif a.preset == "standard" and a.seed == 0:
            out = SHIPPED_DIR
        else:
            out = Path(f"lab-{a.preset}-seed{a.seed}")
        info = build_lab(a.preset, a.seed, out, threads=a.threads, overwrite=a.overwrite, checkpoints=ckpt)
        print(f"built the {a.preset} lab (seed {a.seed}) in {out} in {info['build_seconds']:.0f} s")
    print(json.dumps(info["figures"], indent=2))
    return 0


def _build_retrain(a: argparse.Namespace) -> int:
    from auditor.lab.build import SHIPPED_RETRAIN_DIR, build_retrain

    if a.preset != "standard" or not a.retrain:
        raise ConfigError("--without-forget trains the standard lab's oracle: use --preset standard --retrain")
    out = Path(a.out) if a.out else SHIPPED_RETRAIN_DIR
    info = build_retrain(a.seed, out, threads=a.threads or 1, overwrite=a.overwrite)
    print(f"built the retrain-without-forget model in {out} in {info['build_seconds']:.0f} s")
    print(json.dumps(info["figures"], indent=2))
    return 0


def _build_smollm2(a: argparse.Namespace, ckpt: CheckpointSpec) -> int:
    from auditor.lab.smollm2 import build_smollm2, default_dir

    if a.retrain:
        raise ConfigError(f"--retrain is for the standard preset; {a.preset} always trains (--overwrite rebuilds)")
    info = build_smollm2(
        a.preset,
        a.seed,
        a.out,
        without_forget=a.without_forget,
        threads=a.threads,
        device=a.device,
        overwrite=a.overwrite,
        checkpoints=ckpt,
    )
    where = a.out or default_dir(a.preset, a.seed, a.without_forget)
    if info.get("cached"):
        print(f"the {a.preset} lab (seed {a.seed}) is already built in {where}; --overwrite rebuilds it")
    else:
        secs = info["build_seconds"]
        print(f"built the {a.preset} lab ({info['variant']}, seed {a.seed}) in {where} in {secs:.0f} s")
    print(json.dumps(info["figures"], indent=2))
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from auditor.models.load import load_model
    from auditor.pipeline.info import model_info

    print(json.dumps(model_info(load_model(model_spec(a, a.model))), indent=2))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    lab = add_command(sub, "lab", None, help="the synthetic memorization lab")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    b = add_command(
        lab_sub,
        "build",
        cmd_lab_build,
        help="build a lab (micro: trained here in ~1 min; standard: the shipped one, or --retrain; "
        "smollm2: SmolLM2-135M fine-tuned on real text, ~20 min, cached)",
        description="Generate a world with known members, canaries and facts, train a small Llama on it, "
        "and write an HF checkpoint plus ground truth. The standard preset is shipped: without --retrain it "
        "is copied (after a hash check) in seconds.",
    )
    b.add_argument(
        "--preset",
        default="standard",
        help="micro, standard, smollm2 (SmolLM2-135M fine-tuned on stdlib docstrings, written to the cache "
        "~/.cache/memaudit/lab-smollm2-seedN unless --out: what --model lab:smollm2 loads) or smollm2-tiny "
        "(a few steps)",
    )
    b.add_argument("--seed", type=nonneg_int, default=0, help="seed of the world and of training")
    b.add_argument(
        "--out",
        help="output folder (default lab-PRESET-seedN; with --retrain of standard "
        "seed 0: the shipped folder inside the package)",
    )
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a lab memaudit built at --out (a folder it did not write is never touched)",
    )
    b.add_argument(
        "--retrain", action="store_true", help="train the standard preset instead of copying the shipped one"
    )
    b.add_argument(
        "--threads", type=positive_int, help="torch threads for training (default 2; 1 with --without-forget)"
    )
    b.add_argument(
        "--without-forget",
        action="store_true",
        help="train the unlearning oracle (the lab minus its forget set, same seed and recipe): with --retrain "
        "for standard (default out: the shipped auditor/lab/standard_retrain); for smollm2 (lab:smollm2-retrain)",
    )
    b.add_argument(
        "--checkpoints",
        metavar="FRACTIONS",
        help="also save intermediate checkpoints after these fractions of the training steps, e.g. "
        "0.05,0.1,0.25,0.5 (each in (0,1)), in OUT/checkpoints/ with index.json and seen.jsonl: how often each "
        "member and canary was trained on up to each checkpoint (Biderman et al. 2023). Default: none",
    )
    b.add_argument("--device", help="smollm2 presets: cpu (float32) or cuda (bf16); default: cuda if available")

    info = add_command(
        sub, "info", cmd_info, help="architecture, parameter count, dtype and prunable layers of a model"
    )
    info.add_argument("model", help="local folder, .gguf file, hub id, or an alias: lab, smollm2-135m")
    add_model_args(info)
