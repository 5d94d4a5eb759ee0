"""Where and in what precision a model runs: the device (data parallelism's ``cuda:LOCAL_RANK``
included), the dtype, and accelerate's big-model placement for ``--offload``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch

import auditor.store.parallel as parallel
from auditor.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | None) -> str:
    """The device to load on. Under ``accelerate launch`` (data parallel) ``cuda`` / default means this
    process's GPU, ``cuda:LOCAL_RANK``; ``auto`` (one model split across GPUs) cannot be combined with it."""
    if parallel.world() > 1:
        if device == "auto":
            raise ConfigError(
                "--device auto splits one model across GPUs; under accelerate launch each process "
                "takes one GPU: drop --device auto, or run one process"
            )
        if device in (None, "cuda") and torch.cuda.is_available():
            return f"cuda:{parallel.local_rank()}"
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in DEVICES and not re.fullmatch(r"cuda:\d+|mps", device):
        raise ConfigError(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}, cuda:N, mps")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but torch sees no GPU; use --device cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: torch sees {torch.cuda.device_count()} GPU(s); use cuda:0 ... or auto")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' was asked for but torch sees no MPS backend; use --device cpu")
    return device


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    if dtype is None:
        if device == "cpu" or not torch.cuda.is_available():
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of: {', '.join(DTYPES)}")
    return DTYPES[dtype]


def offload_kwargs(device: str, source: str, cache: Path) -> dict:
    """``from_pretrained`` arguments for ``--offload`` (accelerate's big-model inference): fill the GPU
    (``cuda:N``: that one; ``auto``: all), keep what does not fit in CPU memory (80% of it), then on disk
    under the cache; accelerate's hooks bring each layer's weights to the GPU for its forward pass."""
    if device == "cpu" or not torch.cuda.is_available():
        raise ConfigError(
            "--offload keeps weights in CPU memory and runs layers on a GPU; torch sees no GPU "
            "(on a CPU the model is already in CPU memory: drop --offload)"
        )
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus = range(torch.cuda.device_count()) if device == "auto" else [torch.device(device).index or 0]
    max_memory: dict = {i: int(torch.cuda.mem_get_info(i)[0] * 0.9) for i in gpus} | {"cpu": int(ram * 0.8)}
    folder = cache / "offload" / hashlib.sha256(source.encode()).hexdigest()[:16]
    return {"device_map": "auto", "max_memory": max_memory, "offload_folder": str(folder)}
