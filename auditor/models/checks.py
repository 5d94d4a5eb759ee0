"""Checks of a :class:`ModelSpec` made before any weights are read, each failure one line with its fix.

:func:`check_options` looks at the options alone (``--cache-dir``, ``--model-args``, ``--attn-implementation``);
:func:`check_resolved` at the options against the source once resolved (``--revision`` on a local folder,
``--model-args`` keys the checkpoint does not take, safetensors files that are truncated or corrupt).
:func:`auditor.models.load.resolve_source` runs both, so a run refuses a bad option before its run directory
is made or its model loaded. What cannot be known beforehand is caught at load (:mod:`auditor.models.pretrained`).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError, ModelLoadError
from auditor.models.args import parse_model_args, split_adapter
from auditor.models.attention import check_attn_implementation
from auditor.models.options import ModelSpec, Resolved

MAX_HEADER = 100_000_000  # safetensors refuses a larger header
# from_pretrained options of this and earlier transformers versions (some are read by helpers, not by
# from_pretrained's own code, so :func:`from_pretrained_options` cannot see them)
LOAD_OPTIONS = (
    "cache_dir", "force_download", "resume_download", "proxies", "token", "use_auth_token", "local_files_only",
    "subfolder", "variant", "code_revision", "low_cpu_mem_usage", "offload_folder", "offload_state_dict",
    "offload_buffers", "max_memory", "quantization_config", "load_in_8bit", "load_in_4bit", "output_loading_info",
    "adapter_kwargs", "adapter_name", "key_mapping", "tp_plan", "tp_size", "device_mesh", "generation_config",
    "config", "state_dict", "ignore_mismatched_sizes", "weights_only", "gguf_file", "use_kernels",
    "kernel_config", "attn_implementation", "experts_implementation", "disable_mmap", "from_tf", "from_flax",
    "mirror", "_fast_init", "_from_auto", "_from_pipeline", "_commit_hash",
)  # fmt: skip
RESAVE = "re-download the checkpoint, or re-save it with save_pretrained(..., safe_serialization=True)"


def check_options(spec: ModelSpec) -> None:
    """The options that need no checkpoint: the cache folder, ``--model-args`` values, the attention kernel."""
    env = os.environ.get("MEMAUDIT_CACHE")
    if spec.cache_dir and _file_in_the_way(spec.cache_dir):
        raise ConfigError(
            f"--cache-dir {spec.cache_dir}: {_file_in_the_way(spec.cache_dir)} is a file, not a folder; "
            "give a folder (or leave --cache-dir out)"
        )
    if not spec.cache_dir and env and _file_in_the_way(env):
        raise ConfigError(
            f"MEMAUDIT_CACHE={env}: {_file_in_the_way(env)} is a file, not a folder; point it at a folder"
        )
    options, adapter = split_adapter(parse_model_args(spec.model_args))
    if adapter is not None and _looks_local(adapter) and not Path(adapter).expanduser().is_dir():
        raise ConfigError(
            f"--model-args peft={adapter}: no such folder; give a folder written by PEFT's save_pretrained "
            "(adapter_config.json inside) or its hub id"
        )
    for name in (spec.attn_implementation, options.get("attn_implementation")):
        if name is not None:
            check_attn_implementation(str(name))


def _file_in_the_way(folder: str) -> Path | None:
    """The file at ``folder`` or at the first of its parents that exists, if it is not a folder, else None."""
    p = Path(folder).expanduser().absolute()
    for q in (p, *p.parents):
        if q.exists():
            return None if q.is_dir() else q
    return None


def _looks_local(s: str) -> bool:
    """An adapter that can only be a path (hub ids are ``name`` or ``org/name``)."""
    return s.startswith((".", "/", "~")) or s.count("/") > 1 or "\\" in s


def check_resolved(spec: ModelSpec, r: Resolved) -> None:
    """The options against the resolved source: hub-only options on local files, unknown keys, broken weights."""
    if spec.revision and not r.hub:
        where = r.path if r.gguf_file is None else str(Path(r.path) / r.gguf_file)
        kind = "a local folder" if r.gguf_file is None else "a local GGUF file"
        named = spec.source if spec.source == where else f"{spec.source} ({where})"
        raise ConfigError(
            f"--revision applies to hub ids; {named} is {kind}, which has no revisions: drop --revision "
            "(revision: in a config), or give the hub id"
        )
    if r.hub:
        return
    folder = Path(r.path)
    if r.gguf_file is None:
        options = split_adapter(parse_model_args(spec.model_args))[0]
        if options and not spec.trust_remote_code:
            check_model_arg_keys(folder, options)
        check_safetensors(folder)


@functools.cache
def from_pretrained_options() -> frozenset[str]:
    """The option names ``AutoModelForCausalLM.from_pretrained`` takes itself (not passed on to the config):
    its parameters and the ``kwargs`` it pops, read from the installed transformers, and :data:`LOAD_OPTIONS`.
    A superset is safe (an unknown key then fails at load, still in one line); a subset would refuse good keys."""
    from transformers import PreTrainedModel
    from transformers.models.auto import auto_factory

    names = set(LOAD_OPTIONS)
    for fn in (PreTrainedModel.from_pretrained, auto_factory._BaseAutoModelClass.from_pretrained):
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        names |= set(inspect.signature(fn).parameters)
        try:
            names |= set(re.findall(r"""kwargs\.(?:pop|get)\(\s*["'](\w+)["']""", inspect.getsource(fn)))
        except (OSError, TypeError):
            pass
    return frozenset(names - {"self", "cls", "args", "kwargs", "model_args", "pretrained_model_name_or_path"})


def check_model_arg_keys(folder: Path, options: dict[str, Any]) -> None:
    """Refuse a ``--model-args`` key that is neither a ``from_pretrained`` option nor a key of the folder's
    config (transformers would pass it to the model class, which fails with a TypeError after loading)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError):
        return  # the load reports it, with its own message
    if getattr(config, "auto_map", None):
        return  # custom code: its classes may take more
    known = from_pretrained_options()
    unknown = [k for k in options if k not in known and not hasattr(config, k)]
    if not unknown:
        return
    try:
        cls = AutoModelForCausalLM._model_mapping[type(config)]
    except (KeyError, ValueError, AttributeError, ImportError):
        return  # not a causal LM transformers knows: the load reports it
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in unknown if k not in params]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(known | set(config.to_dict())), n=3, cutoff=0.7)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"--model-args: unknown key {key!r}{hint}: it is neither a from_pretrained option nor a key of "
            f"{folder / 'config.json'}; use from_pretrained options (e.g. low_cpu_mem_usage=true, "
            "attn_implementation=sdpa), keys of that config.json (e.g. use_cache=false), or peft=ADAPTER"
        )


def check_safetensors(folder: Path) -> None:
    """Each safetensors file the folder's model would load: present, with a readable header whose tensors
    the file's size covers exactly (a truncated download fails here, naming the file, before any load)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelLoadError(f"{index}: not a valid safetensors index ({e}); {RESAVE}") from e
        for name in names:
            if not (folder / name).is_file():
                raise ModelLoadError(f"{folder / name}: missing, though {index.name} lists it; {RESAVE}")
    elif (folder / "model.safetensors").is_file():
        names = ["model.safetensors"]
    else:
        return
    for name in names:
        why = safetensors_problem(folder / name)
        if why:
            raise ModelLoadError(f"{folder / name}: truncated or corrupt safetensors file ({why}); {RESAVE}")


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file's header or length, or None: 8-byte header length, JSON header,
    and every tensor's ``data_offsets`` within a data section that ends exactly at the end of the file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{size} bytes, less than the 8-byte header length"
        n = int.from_bytes(head, "little")
        if n > min(size - 8, MAX_HEADER):
            return f"its header claims {n:,} bytes but the file has {size:,}"
        raw = f.read(n)
    try:
        header = json.loads(raw)
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return "its header is not valid safetensors JSON"
    need = 8 + n + max(ends, default=0)
    if need > size:
        return f"its tensors need {need:,} bytes but the file has {size:,}"
    if need < size:
        return f"{size - need:,} bytes after its last tensor"
    return None
