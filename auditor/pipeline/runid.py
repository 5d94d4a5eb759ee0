"""A run's identity before any model loads: input file hashes, checkpoint fingerprints, dtype, device class.

:class:`~auditor.store.runs.RunDir` resumes a folder only for the same identity, so an edited members file, a
checkpoint replaced at the same path, or another ``--dtype`` or device is refused before loading.
"""

from __future__ import annotations

from pathlib import Path

from auditor.models.load import LoadedModel, ModelSpec, Resolved, model_identity, resolve_source
from auditor.store.identity import inputs_identity


def loaded_identity(lm: LoadedModel) -> dict[str, str]:
    """The identity of a model already in memory (the Python API): its fingerprint, dtype and device class."""
    p = next(lm.model.parameters())
    return {"fingerprint": lm.fingerprint, "dtype": str(p.dtype).replace("torch.", ""), "device": p.device.type}


def run_identity(
    config: dict,
    specs: dict[str, ModelSpec],
    lab: Path | None = None,
    loaded: dict[str, LoadedModel] | None = None,
    resolved: dict[str, Resolved] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """(identity, model folders read) of a run: every file ``config`` names by content, the lab, and per
    checkpoint label its fingerprint, dtype and device class (from ``loaded`` where already in memory).
    ``resolved``: the checkpoints' sources, already resolved by the caller (:func:`resolve_checkpoints`),
    so that a checkpoint resolved for its identity is not resolved again to load it."""
    identity = inputs_identity(config, {"lab": lab} if lab else None)
    sources: list[str] = []
    for label, spec in specs.items():
        if loaded and label in loaded:
            ident = loaded_identity(loaded[label])
        else:
            r = resolved[label] if resolved and label in resolved else resolve_source(spec)
            ident = model_identity(spec, r)
            if not r.hub:
                sources.append(r.path if r.gguf_file is None else str(Path(r.path) / r.gguf_file))
        identity |= {f"checkpoint.{label}.{k}": v for k, v in ident.items()}
    return identity, sources


def resolve_checkpoints(
    specs: dict[str, ModelSpec], loaded: dict[str, LoadedModel] | None = None
) -> dict[str, Resolved]:
    """Each checkpoint's source resolved once (label -> :class:`Resolved`), except those already in memory: a run
    passes them to :func:`run_identity`, to the tokenizer checks and to the loader."""
    return {label: resolve_source(spec) for label, spec in specs.items() if not (loaded and label in loaded)}
