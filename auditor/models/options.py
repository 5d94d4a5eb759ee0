"""How to load a checkpoint, declared once: :class:`ModelOptions` (what configs and flags set) and
:class:`ModelSpec` (what the loader takes), and the one function that makes the second from the first.

This module imports nothing heavy (no torch), so the command line can read the option names for ``--help``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """What to load and how (built by :meth:`ModelOptions.spec_for`; read by :func:`auditor.models.load.load_model`)."""

    source: str  # alias, local folder, .gguf file, or hub id
    revision: str | None = None  # hub revision (branch, tag or commit)
    dtype: str | None = None  # float32 | bfloat16 | float16; None: float32 on CPU, bf16/fp16 on GPU
    device: str | None = None  # cpu | cuda | auto (device_map="auto"); None: cuda if available
    trust_remote_code: bool = False
    allow_pickle: bool = False  # allow .bin (pickle) weights; safetensors only when False
    cache_dir: str | None = None  # where converted checkpoints live; default ~/.cache/memaudit
    attn_implementation: str | None = None  # passed to from_pretrained: eager | sdpa | flash_attention_2 | ...
    offload: bool = False  # weights that do not fit on the GPU stay in CPU memory (then disk), brought in per layer
    model_args: str | None = None  # "key=value,..." for from_pretrained, incl. peft=ADAPTER (auditor.models.args)


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """The options of loading and running a checkpoint, shared by every config that loads one and by the flags.

    Configs inherit these fields, so their YAML keeps the flat keys users write at the top level
    (``device: cpu``, ``dtype: bfloat16``, ``batch_size: 8`` ... beside ``model:``); there is no
    ``model_options:`` section. ``cfg.model_options`` is the options alone and ``cfg.spec_for(source)`` the
    :class:`ModelSpec` of a checkpoint under them. On the command line :func:`auditor.cli.common.add_model_args`
    declares the flags (one per field, same name) and :func:`auditor.cli.common.model_options` reads them.
    Where a converted checkpoint is cached (``cache_dir``) is a property of the machine, not of a run, so it
    is not an option here: :meth:`spec_for` takes it.
    """

    device: str | None = None
    """cpu, cuda, cuda:N, mps, or auto (``device_map="auto"`` across GPUs); None: cuda if available, else cpu."""
    dtype: str | None = None
    """Weights dtype: float32, bfloat16 or float16; None: float32 on CPU, bfloat16 / float16 on a GPU."""
    attn_implementation: str | None = None
    """The attention kernel passed to ``from_pretrained`` (eager, sdpa, flash_attention_2, ...); None: the
    checkpoint's / transformers' choice."""
    model_args: str | None = None
    """More ``from_pretrained`` options, ``"key=value,..."``, incl. ``peft=ADAPTER`` (:mod:`auditor.models.args`)."""
    offload: bool = False
    """A model bigger than the GPU: weights beyond it stay in CPU memory (then disk), each layer brought to the
    GPU for its forward pass (accelerate; no pruning)."""
    trust_remote_code: bool = False
    """Run the checkpoint's own Python code (only for a trusted checkpoint)."""
    allow_pickle: bool = False
    """Allow ``.bin`` (pickle) weights, which can run code when loaded; False: safetensors only."""
    batch_size: int | None = None
    """Texts per forward pass; None: start large and halve on out-of-memory."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of the checkpoint the config's ``model`` names; other checkpoints
    (an audit's ``compare`` entries) carry their own."""

    @property
    def model_options(self) -> ModelOptions:
        """These options alone (a config that inherits them: without its other keys)."""
        return ModelOptions(**{name: getattr(self, name) for name in option_names()})

    def spec_for(self, source: str, *, cache_dir: str | None = None) -> ModelSpec:
        """The one place a :class:`ModelSpec` is made: checkpoint ``source`` loaded under these options."""
        return ModelSpec(
            source=source,
            revision=self.revision,
            dtype=self.dtype,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            allow_pickle=self.allow_pickle,
            cache_dir=cache_dir,
            attn_implementation=self.attn_implementation,
            offload=self.offload,
            model_args=self.model_args,
        )


def option_names() -> tuple[str, ...]:
    """The fields of :class:`ModelOptions`, in order: the config keys and flag names (``dtype`` -> ``--dtype``)."""
    return tuple(f.name for f in dataclasses.fields(ModelOptions))


@dataclass(frozen=True)
class Resolved:
    """Where a source's files are, without loading them: ``path`` (folder or hub id), GGUF file, fingerprint."""

    path: str
    gguf_file: str | None
    fingerprint: str  # "" for a hub id (its commit is known once loaded)
    hub: bool = False
