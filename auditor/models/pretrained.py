"""transformers' ``from_pretrained`` on a resolved source, its failures turned into one-line ModelLoadErrors.

:mod:`auditor.models.load` resolves a source (alias, GGUF, folder, hub id) and builds the options; this module
calls transformers with them: the tokenizer alone (cheap, for the checks made before a model loads), or the
tokenizer and the model.
"""

from __future__ import annotations

import os

from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ModelLoadError

TOKENIZER_KEYS = ("trust_remote_code", "revision", "gguf_file")  # the from_pretrained options a tokenizer takes


def tokenizer_from(path: str, kwargs: dict, src: str) -> PreTrainedTokenizerBase:
    """The tokenizer at ``path`` (no weights read); ``kwargs``: the model's options (those it takes are used)."""
    try:
        return AutoTokenizer.from_pretrained(path, **{k: kwargs[k] for k in TOKENIZER_KEYS if k in kwargs})
    except (OSError, ValueError) as e:
        raise load_error(e, src, kwargs) from e


def model_from(path: str, kwargs: dict, src: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The tokenizer and the model at ``path``, loaded with ``kwargs``."""
    tok = tokenizer_from(path, kwargs, src)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise load_error(e, src, kwargs) from e
    return model, tok


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
