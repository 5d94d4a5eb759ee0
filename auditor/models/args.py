"""``--model-args key=value,...``: extra ``from_pretrained`` options, as lm-eval's ``--model_args`` passes them.

Values are read as YAML scalars (``true`` -> True, ``8`` -> 8, anything else a string), so
``--model-args attn_implementation=sdpa,low_cpu_mem_usage=true`` reaches
``AutoModelForCausalLM.from_pretrained(..., attn_implementation="sdpa", low_cpu_mem_usage=True)``.

One key is ours, not transformers': ``peft=ADAPTER`` (a local folder or hub id written by PEFT's
``save_pretrained``) loads a LoRA/PEFT adapter on top of the checkpoint and merges it into the weights
(``PeftModel.from_pretrained(model, ADAPTER).merge_and_unload()``), so every probe and pruning method
sees one plain model. It needs ``pip install peft``.

Options the dedicated flags own (dtype, device_map, revision, trust_remote_code, use_safetensors) are
refused here with the flag to use instead, so a run's identity has one place for each.
"""

from __future__ import annotations

from typing import Any

import yaml

from auditor.errors import ConfigError

OWNED_BY_FLAGS = {
    "dtype": "--dtype",
    "torch_dtype": "--dtype",
    "device_map": "--device auto or --offload",
    "revision": "--revision",
    "trust_remote_code": "--trust-remote-code",
    "use_safetensors": "--allow-pickle",
}


def _value(raw: str) -> Any:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return value if isinstance(value, str | int | float | bool) or value is None else raw


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``"a=1,b=x"`` -> ``{"a": 1, "b": "x"}``; one-line :class:`ConfigError` on a malformed item."""
    out: dict[str, Any] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(
                f"--model-args: expected key=value items separated by commas, got {item!r} "
                "(e.g. attn_implementation=sdpa,peft=path/to/adapter)"
            )
        if key in OWNED_BY_FLAGS:
            raise ConfigError(f"--model-args: {key} has its own flag; use {OWNED_BY_FLAGS[key]} instead")
        if key in out:
            raise ConfigError(f"--model-args: {key} is given twice; keep one")
        if not raw.strip():
            example = "peft=path/to/adapter" if key == "peft" else f"{key}=VALUE ({key}=null for None)"
            raise ConfigError(f"--model-args: {key}= has no value; write {example}, or drop {key}")
        out[key] = _value(raw.strip())
    return out


def canonical(text: str | None) -> str:
    """The options as one sorted string (part of a run's identity): equal options, equal string."""
    return ",".join(f"{k}={v}" for k, v in sorted(parse_model_args(text).items()))


def split_adapter(options: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(the ``from_pretrained`` options, the PEFT adapter or None)."""
    rest = dict(options)
    adapter = rest.pop("peft", None)
    return rest, None if adapter is None else str(adapter)


def merge_adapter(model: Any, adapter: str, revision: str | None = None) -> Any:
    """``model`` with the PEFT adapter at ``adapter`` loaded and merged into its weights."""
    try:
        from peft import PeftModel
    except ImportError as e:
        raise ConfigError("--model-args peft=... needs the peft package; install it with `pip install peft`") from e
    try:
        merged = PeftModel.from_pretrained(model, adapter, revision=revision).merge_and_unload()
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"--model-args peft={adapter}: cannot load the adapter ({first}); give a folder written "
            "by PEFT's save_pretrained (adapter_config.json inside) or its hub id"
        ) from e
    return merged
