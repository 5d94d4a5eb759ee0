"""transformers' ``from_pretrained`` on a resolved source, its failures turned into one-line ModelLoadErrors.

:mod:`auditor.models.load` resolves a source (alias, GGUF, folder, hub id) and builds the options; this module
calls transformers with them: the tokenizer alone (cheap, for the checks made before a model loads), or the
tokenizer and the model.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path

from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ModelLoadError

TOKENIZER_KEYS = ("trust_remote_code", "revision", "gguf_file")  # the from_pretrained options a tokenizer takes


def tokenizer_from(path: str, kwargs: dict, src: str) -> PreTrainedTokenizerBase:
    """The tokenizer at ``path`` (no weights read); ``kwargs``: the model's options (those it takes are used)."""
    try:
        return AutoTokenizer.from_pretrained(path, **{k: kwargs[k] for k in TOKENIZER_KEYS if k in kwargs})
    except (OSError, ValueError) as e:
        raise load_error(e, src, kwargs) from e


def model_from(
    path: str, kwargs: dict, src: str, local: bool = False
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The tokenizer and the model at ``path``, loaded with ``kwargs``. ``local``: ``path`` is a folder here
    (named in the message when one of its weight files fails to load)."""
    tok = tokenizer_from(path, kwargs, src)
    try:
        with warnings.catch_warnings():  # torch's note on a pickle protocol: the error below says what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise load_error(e, src, kwargs) from e
    except (TypeError, ImportError, RuntimeError, SafetensorError, pickle.UnpicklingError) as e:
        line = weights_error(e, src, Path(path) if local else None)
        if line is None:
            raise
        raise ModelLoadError(line) from e
    return model, tok


def _files(folder: Path | None, pattern: str, src: str) -> str:
    """The weight files matching ``pattern`` in ``folder`` (a local source), else the source's name."""
    found = sorted(folder.glob(pattern)) if folder is not None else []
    return ", ".join(str(f) for f in found) or src


def weights_error(e: Exception, src: str, folder: Path | None) -> str | None:
    """The one line for a failure that only loading can reveal (an option the model class refuses, a missing
    kernel package, a corrupt weights file, a pickle torch's safe unpickler refuses), or None (a bug)."""
    msg = str(e)
    first = (msg.strip().splitlines() or [type(e).__name__])[0]
    if isinstance(e, TypeError):
        m = re.search(r"unexpected keyword argument '(\w+)'", msg)
        if m is None:
            return None
        return (
            f"--model-args: {src} does not take the option {m.group(1)!r} ({first}); use from_pretrained "
            "options (e.g. low_cpu_mem_usage=true) or keys of the checkpoint's config.json"
        )
    if isinstance(e, ImportError):
        fix = "install the package it names"
        if "flash" in msg.lower():
            fix = "install flash-attn (pip install flash-attn) or use --attn-implementation sdpa (or eager)"
        return f"cannot load model {src!r}: {first}; {fix}"
    if isinstance(e, SafetensorError) or "safetensors" in type(e).__module__:
        return (
            f"{_files(folder, '*.safetensors', src)}: truncated or corrupt safetensors weights ({first}); "
            "re-download the checkpoint, or re-save it with save_pretrained(..., safe_serialization=True)"
        )
    if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in msg or "PytorchStreamReader" in msg:
        detail = re.search(r"WeightsUnpickler error:\s*(\S.*)", msg)
        first = f"weights_only unpickler: {detail.group(1).strip()}" if detail else first
        return (
            f"{_files(folder, '*.bin', src)}: torch's safe (weights_only) unpickler refuses this pickle "
            f"checkpoint ({first}); it is not loaded with weights_only=False, as that can run code: convert it to "
            "safetensors (load it and save_pretrained(..., safe_serialization=True) in a trusted environment)"
        )
    return None


def load_error(e: OSError | ValueError, src: str, kwargs: dict) -> ModelLoadError:
    """One line naming what went wrong loading ``src`` and the fix (safetensors, network, remote code)."""
    msg = str(e)
    first = (msg.strip().splitlines() or [type(e).__name__])[0]
    if isinstance(e, ValueError):
        if "trust_remote_code" in msg:
            return ModelLoadError(
                f"{src} needs custom code from its repository; pass --trust-remote-code only if you trust it"
            )
        return ModelLoadError(f"cannot load model {src!r}: {first}")
    if "safetensors" in msg.lower() or ("use_safetensors" in kwargs and ".bin" in msg):
        return ModelLoadError(
            f"{src}: no safetensors weights found; convert the checkpoint to safetensors, or pass "
            "--allow-pickle if you trust its .bin files"
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in msg.lower() or "connect" in msg.lower():
        return ModelLoadError(
            f"cannot fetch {src!r} from the hub: no network or HF_HUB_OFFLINE=1. Download it where you "
            "are online (huggingface-cli download) and pass the local folder"
        )
    return ModelLoadError(f"cannot load model {src!r}: {first}")
