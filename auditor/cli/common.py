"""Flags and helpers shared by every command group: model flags, the model spec they build, batch size."""

from __future__ import annotations

import argparse

from auditor.errors import ConfigError
from auditor.models import ModelSpec


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", help="hub revision (branch, tag or commit) for a hub id")
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        help="weights dtype (default: float32 on CPU, bfloat16/float16 on GPU)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        help="cpu, cuda, or auto (device_map='auto' across GPUs); default: cuda if available",
    )
    p.add_argument(
        "--trust-remote-code", action="store_true", help="run the checkpoint's own Python code (off by default)"
    )
    p.add_argument("--allow-pickle", action="store_true", help="allow .bin (pickle) weights; default: safetensors only")
    p.add_argument("--cache-dir", help="cache for converted checkpoints (default ~/.cache/memaudit or $MEMAUDIT_CACHE)")

def _model_spec(a: argparse.Namespace, source: str) -> ModelSpec:
    return ModelSpec(
        source=source,
        revision=a.revision,
        dtype=a.dtype,
        device=a.device,
        trust_remote_code=a.trust_remote_code,
        allow_pickle=a.allow_pickle,
        cache_dir=a.cache_dir,
    )

def batch_size_arg(value: str) -> int | None:
    """``--batch-size``: a positive integer, or ``auto`` (None: start large, halve on out-of-memory)."""
    if value == "auto":
        return None
    try:
        b = int(value)
    except ValueError as e:
        raise ConfigError(f"--batch-size must be a positive integer or 'auto', got {value!r}") from e
    if b < 1:
        raise ConfigError(f"--batch-size must be a positive integer or 'auto', got {value!r}")
    return b
